"""`python -m server serve | migrate | routes`."""

from __future__ import annotations

import argparse
import asyncio
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
    return config


def migrate(settings: Settings, revision: str = "head") -> None:
    from alembic import command

    if settings.sqlalchemy_url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(settings), revision)


def serve(settings: Settings) -> None:
    from server.app import create_app

    log = structlog.get_logger("server")
    problems = settings.check_production()
    if problems:
        for problem in problems:
            log.error("settings.refused", problem=problem)
        sys.exit(2)
    if settings.embedded:
        log.warning(
            "server.embedded_mode",
            detail="SQLite and in-process events and jobs: nothing in-process survives a "
            "restart. Not for production; set DATABASE_URL and REDIS_URL.",
        )
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:  # pragma: no cover - uvloop is a dependency on every POSIX platform
        pass
    base = f"http://{settings.host}:{settings.port}"
    print(
        f"ShareStack listening on {base}  (API docs: {base}/api/docs, ReDoc: {base}/api/redoc)",
        flush=True,
    )
    web.run_app(
        create_app(settings),
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
    args = parser.parse_args(argv)

    overrides = {k: v for k, v in vars(args).items() if k in ("host", "port") and v is not None}
    settings = Settings(**overrides)
    configure_logging(settings.log_level, settings.log_format)
    if args.command == "migrate":
        migrate(settings, args.revision)
    else:
        serve(settings)


if __name__ == "__main__":
    main()
