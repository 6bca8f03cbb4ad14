"""MariaDB and Redis for our server under benchmark, plus its environment.

The database ``sharestack_test_bench`` is created if missing and kept (migrations are idempotent);
Redis DB 14 holds only keys under a per-run prefix, deleted afterwards. Nothing else is touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import urllib.parse
from collections.abc import Iterator, Mapping

from bench.common import PYTHON, BenchError, log, run_command

DEFAULT_MYSQL_URL = "mysql+asyncmy://sharestack_test:sharestack_test@127.0.0.1:3306"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379"
BENCH_DATABASE = "sharestack_test_bench"
BENCH_REDIS_DB = 14


def mysql_server_url() -> str:
    return os.environ.get("SHARESTACK_TEST_MYSQL_URL", DEFAULT_MYSQL_URL)


def redis_url() -> str:
    base = urllib.parse.urlsplit(os.environ.get("SHARESTACK_TEST_REDIS_URL", DEFAULT_REDIS_URL))
    return urllib.parse.urlunsplit(base._replace(path=f"/{BENCH_REDIS_DB}"))


def ensure_database(server_url: str, name: str) -> str:
    """Create database ``name`` if missing; return the URL that selects it."""
    parts = urllib.parse.urlsplit(server_url)
    try:
        asyncio.run(_create_database(parts, name))
    except BenchError:
        raise
    except Exception as exc:
        where = f"{parts.hostname}:{parts.port or 3306}"
        raise BenchError(f"cannot create database {name} on {where}: {exc}") from exc
    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))


async def _create_database(parts: urllib.parse.SplitResult, name: str) -> None:
    try:
        import asyncmy
    except ImportError as exc:
        raise BenchError("asyncmy is not installed in this environment") from exc
    conn = await asyncmy.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 3306,
        user=urllib.parse.unquote(parts.username or ""),
        password=urllib.parse.unquote(parts.password or ""),
        connect_timeout=5,
    )
    try:
        async with conn.cursor() as cursor:
            # Looked up first: IF NOT EXISTS on an existing database logs a warning.
            await cursor.execute(
                "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (name,)
            )
            if await cursor.fetchone() is None:
                await cursor.execute(
                    f"CREATE DATABASE IF NOT EXISTS `{name}` "
                    "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                )
    finally:
        conn.close()


def check_redis(url: str) -> None:
    import redis

    try:
        with redis.Redis.from_url(url, socket_connect_timeout=3) as client:
            client.ping()
    except redis.RedisError as exc:
        raise BenchError(f"Redis at {url} unavailable: {exc}") from exc


def delete_prefixed_keys(url: str, prefix: str) -> int:
    """Delete the keys this run created: ``<prefix>:*``, ``<prefix>`` itself, and arq's
    ``arq:job:<prefix>:*`` (job ids carry the prefix)."""
    import redis

    deleted = 0
    try:
        with redis.Redis.from_url(url, socket_connect_timeout=3) as client:
            batch: list[bytes] = []
            for key in client.scan_iter(match=f"*{prefix}:*", count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    deleted += int(client.delete(*batch))
                    batch.clear()
            if batch:
                deleted += int(client.delete(*batch))
            deleted += int(client.delete(prefix))
    except redis.RedisError as exc:
        log(f"could not delete Redis keys {prefix}:* ({exc})")
    return deleted


def fresh_database(name: str) -> str:
    """Database ``name`` dropped and made anew (a benchmark's own: its schema is always the
    code's); return the URL that selects it."""
    return asyncio.run(_fresh_database(name))


async def _fresh_database(name: str) -> str:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    server = mysql_server_url().rstrip("/")
    engine = create_async_engine(f"{server}/")
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
            await conn.execute(
                text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
            )
    finally:
        await engine.dispose()
    return f"{server}/{name}"


@contextlib.contextmanager
def ours_environment(
    extra: Mapping[str, str] | None = None, *, own_database: str | None = None
) -> Iterator[dict[str, str]]:
    """Database created, migrations run, Redis reachable: yields our server's environment.
    With `own_database`, the benchmark's own database, made anew, instead of the shared one."""
    prefix = f"bench-{os.getpid()}"
    redis = redis_url()
    check_redis(redis)
    database = (
        fresh_database(own_database)
        if own_database is not None
        else ensure_database(mysql_server_url(), BENCH_DATABASE)
    )
    env = {
        "DATABASE_URL": database,
        "REDIS_URL": redis,
        "KEY_PREFIX": prefix,
        "LOG_LEVEL": "WARNING",
        "RATE_LIMIT_IP": "100000000/minute",
        "ENVIRONMENT": "development",
        **(extra or {}),
    }
    try:
        run_command([PYTHON, "-m", "server", "migrate"], env, "migrations", timeout=180)
        yield env
    finally:
        delete_prefixed_keys(redis, prefix)
