"""`python -m server serve | migrate | createadmin | reindex | newkey`."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

import structlog
from aiohttp import web
from alembic.config import Config

from server.logs import configure_logging
from server.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def alembic_config(settings: Settings) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["sqlalchemy_url"] = settings.sqlalchemy_url
    # Data migrations that encrypt personal data need the deployment's keys.
    config.attributes["settings"] = settings
    return config


def migrate(settings: Settings, revision: str = "head", *, keep_logging: bool = False) -> None:
    from alembic import command

    config = alembic_config(settings)
    if settings.sqlalchemy_url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    # alembic.ini's logging setup would replace the server's own (JSON lines) one.
    config.attributes["skip_logging"] = keep_logging
    command.upgrade(config, revision)


def migrate_own_sqlite(settings: Settings) -> None:
    """Bring a SQLite database to the code's schema (a no-op when it is there): the embedded
    mode's file is this process's own. MariaDB is migrated by its own release step, once."""
    if settings.sqlalchemy_url.startswith("sqlite"):
        migrate(settings, keep_logging=True)


async def create_admin(
    settings: Settings, *, email: str, password: str | None, nickname: str | None
) -> tuple[int, bool]:
    """Create or promote the admin account and log it, in one transaction."""
    from server.clock import Clock
    from server.crypto import PiiCipher
    from server.db import Database, create_engine
    from server.identity.admin.service import ensure_admin

    db = Database(create_engine(settings.sqlalchemy_url, pool_size=1))
    try:
        async with db.unit_of_work() as uow:
            return await ensure_admin(
                uow.session,
                PiiCipher.from_settings(settings),
                email=email,
                password=password,
                nickname=nickname,
                clock=Clock(),
            )
    finally:
        await db.dispose()


def createadmin(settings: Settings, args: argparse.Namespace) -> None:
    from pydantic import ValidationError

    from server.identity.admin.schemas import AdminAccount
    from server.identity.admin.service import PasswordRequired
    from server.identity.auth.service import AccountExists

    password = args.password or os.environ.get("SHARESTACK_ADMIN_PASSWORD") or None
    try:
        account = AdminAccount(email=args.email, password=password, nickname=args.nickname)
        user_id, created = asyncio.run(
            create_admin(
                settings,
                email=account.email,
                password=account.password,
                nickname=account.nickname,
            )
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        sys.exit(f"createadmin: {problems}")
    except (PasswordRequired, AccountExists) as exc:
        sys.exit(f"createadmin: {exc}")
    if created:
        print(f"admin user {user_id} ({account.email}) created")
    else:
        print(f"admin user {user_id} ({account.email}) promoted; its password is unchanged")


async def reindex_search(settings: Settings, *, batch: int = 200) -> int:
    """Rebuild every published item's search row, a batch per transaction; the batches done."""
    from server.content.search.service import reindex
    from server.db import Database, create_engine

    db = Database(create_engine(settings.sqlalchemy_url, pool_size=1))
    batches, last = 0, 0
    try:
        while True:
            async with db.unit_of_work() as uow:
                after = await reindex(uow.session, after_id=last, limit=batch)
            if after is None:
                return batches
            batches, last = batches + 1, after
    finally:
        await db.dispose()


def serve(settings: Settings) -> None:
    from server.app import create_app

    log = structlog.get_logger("server")
    problems = settings.check_production()
    if problems:
        for problem in problems:
            log.error("settings.refused", problem=problem)
        sys.exit(2)
    migrate_own_sqlite(settings)
    if settings.embedded:
        log.warning(
            "server.embedded_mode",
            detail="SQLite and in-process events and jobs: nothing in-process survives a "
            "restart. Not for production; set DATABASE_URL and REDIS_URL.",
        )
    from server.runtime import freeze_heap, use_uvloop

    use_uvloop()
    app = create_app(settings)

    async def freeze_on_start(_app: web.Application) -> None:
        freeze_heap()  # after every start-up step: the runtime, the tokenizer, the sockets' server

    app.on_startup.append(freeze_on_start)
    base = f"http://{settings.host}:{settings.port}"
    print(
        f"ShareStack listening on {base}  (API docs: {base}/api/docs, ReDoc: {base}/api/redoc)",
        flush=True,
    )
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        print=None,
        access_log=None,
        handle_signals=True,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m server", description="ShareStack server")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="run the HTTP and Socket.IO server")
    run.add_argument("--host")
    run.add_argument("--port", type=int)
    up = commands.add_parser("migrate", help="apply database migrations")
    up.add_argument("revision", nargs="?", default="head")
    admin = commands.add_parser(
        "createadmin", help="create an admin account, or make an existing account admin"
    )
    admin.add_argument("--email", required=True)
    admin.add_argument(
        "--password", help="for a new account; or set SHARESTACK_ADMIN_PASSWORD (no shell history)"
    )
    admin.add_argument("--nickname")
    commands.add_parser(
        "reindex", help="rebuild the search index of every published item (after an upgrade)"
    )
    commands.add_parser("newkey", help="print a fresh base64 key for PII_ENCRYPTION_KEY/HASH_KEY")
    args = parser.parse_args(argv)
    if args.command == "newkey":
        from server.crypto import new_key

        print(new_key())
        return

    overrides = {k: v for k, v in vars(args).items() if k in ("host", "port") and v is not None}
    settings = Settings(**overrides)
    configure_logging(settings.log_level, settings.log_format)
    if args.command == "migrate":
        migrate(settings, args.revision)
    elif args.command == "createadmin":
        migrate_own_sqlite(settings)
        createadmin(settings, args)
    elif args.command == "reindex":
        migrate_own_sqlite(settings)
        print(f"search index rebuilt ({asyncio.run(reindex_search(settings))} batches)")
    else:
        serve(settings)


if __name__ == "__main__":
    main()
