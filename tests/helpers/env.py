"""Settings, databases, Redis and apps of this test run (the root conftest's fixtures use them)."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from jobs.sinks import ArqJobSink
from server.__main__ import migrate
from server.crypto import new_key
from server.identity.auth.tokens import generate_private_pem
from server.outbox import EventSink
from server.runtime import Runtime
from server.settings import Settings

MYSQL_BASE = os.environ.get(
    "SHARESTACK_TEST_MYSQL_URL", "mysql+asyncmy://sharestack_test:sharestack_test@127.0.0.1:3306"
).rstrip("/")
REDIS_BASE = os.environ.get("SHARESTACK_TEST_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
WORKER_INDEX = int(WORKER.removeprefix("gw") or 0)
DATABASE_NAME = f"sharestack_test_{WORKER}_{os.getpid()}"
# Concurrent test runs on one machine rarely share a DB number.
REDIS_DB = 10 + (WORKER_INDEX + os.getpid()) % 4
RUN_PREFIX = f"sst{secrets.token_hex(3)}"
# Personal-data keys of this test run (every app and process of the run shares them).
PII_KEYS = {"pii_encryption_key": new_key(), "pii_hash_key": new_key()}
# Files the apps of this run store (avatars, exports) live here, not in the checkout.
FILES_DIR = Path(tempfile.gettempdir()) / f"sharestack-files-{RUN_PREFIX}"


# SHARESTACK_TEST_NOW=<ISO instant with an offset>, e.g. 2026-12-31T16:00:30+00:00, runs the whole
# session as if the wall clock had been set to that instant when pytest started (it keeps ticking):
# datetime.now, time.time and so the app's Clock see it, in this process only. Not moved: MariaDB's
# NOW() (the app never relies on it: timestamps are written from Python), Redis's clock (TTLs are
# relative, but the rate limiter's EXPIREAT is absolute, so an instant in the past makes its
# cluster-wide counters expire at once: prefer instants ahead of the real date) and subprocesses
# that do not read this variable themselves (the servers and workers of tests/system: do not pin
# those).
TEST_NOW = "SHARESTACK_TEST_NOW"


def pinned_instant() -> datetime | None:
    """The instant SHARESTACK_TEST_NOW asks for, or None."""
    value = os.environ.get(TEST_NOW, "").strip()
    if not value:
        return None
    try:
        instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise pytest.UsageError(f"{TEST_NOW} is not an ISO instant: {value!r}") from None
    if instant.tzinfo is None:
        raise pytest.UsageError(f"{TEST_NOW} needs an offset (Z or +08:00): {value!r}")
    return instant


async def create_database(name: str) -> str:
    """(Re)create one of our own databases and return its URL."""
    if not name.startswith("sharestack_test_"):
        raise ValueError("tests only create databases named sharestack_test_*")
    server = create_async_engine(f"{MYSQL_BASE}/")
    async with server.begin() as conn:
        await conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
        await conn.execute(
            text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        )
    await server.dispose()
    return f"{MYSQL_BASE}/{name}?charset=utf8mb4"


async def drop_database(name: str) -> None:
    if not name.startswith("sharestack_test_"):
        raise ValueError("tests only drop databases named sharestack_test_*")
    server = create_async_engine(f"{MYSQL_BASE}/")
    async with server.begin() as conn:
        await conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
    await server.dispose()


@cache
def session_private_key() -> str:
    """One RSA key pair per test session: generating one per app would slow every test."""
    return generate_private_pem().decode()


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "jwt_private_key": session_private_key(),
        "environment": "test",
        "redis_url": f"{REDIS_BASE}/{REDIS_DB}",
        "key_prefix": RUN_PREFIX,
        "log_level": "WARNING",
        "rate_limit_ip": "100000/minute",
        "rate_limit_account": "100000/minute",
        "rate_limit_sync_seconds": 0.02,
        # Every sign-up and sign-in pays the hash: the lowest argon2id cost keeps tests fast
        # (production refuses it; tests/server/identity/auth checks the defaults).
        "password_hash_time_cost": 1,
        "password_hash_memory_kib": 64,
        "password_hash_parallelism": 1,
        "outbox_sweep_after_seconds": 0.5,
        "storage_dir": FILES_DIR,
        **PII_KEYS,
    }
    values.update(overrides)
    # Validated as given, without reading the environment: the test decides every value, and
    # building the environment source for each of Settings' fields costs ~80 ms per call.
    return Settings.model_validate(values)


# A database migrated once per test run; each embedded app starts from a copy of it.
EMBEDDED_TEMPLATE = Path(tempfile.gettempdir()) / f"sharestack-embedded-{RUN_PREFIX}"


def _copy_embedded_template(data_dir: Path) -> None:
    if not (EMBEDDED_TEMPLATE / "sharestack.db").exists():
        migrate(Settings(data_dir=EMBEDDED_TEMPLATE, database_url=None, redis_url=None))
    data_dir.mkdir(parents=True, exist_ok=True)
    for name in ("sharestack.db", "sharestack.db-wal", "sharestack.db-shm"):
        if (EMBEDDED_TEMPLATE / name).exists():
            shutil.copyfile(EMBEDDED_TEMPLATE / name, data_dir / name)


async def migrated_embedded_settings(data_dir: Path) -> Settings:
    """Embedded-mode settings (SQLite in `data_dir`, no Redis), migrated."""
    settings = Settings(
        data_dir=data_dir,
        environment="development",
        log_level="WARNING",
        database_url=None,
        redis_url=None,
    )
    await asyncio.to_thread(_copy_embedded_template, data_dir)
    return settings


async def embedded_twin(settings: Settings, data_dir: Path) -> Settings:
    """The same settings in the embedded mode: SQLite in `data_dir` (migrated), no Redis."""
    await asyncio.to_thread(_copy_embedded_template, data_dir)
    return settings.model_copy(
        update={"database_url": None, "redis_url": None, "data_dir": data_dir}
    )


# Runs a test once on MariaDB and once in the embedded mode (SQLite): the apps `make_client`
# starts follow the `engine_kind` it is given.
on_both_engines = pytest.mark.parametrize("engine_kind", ["mariadb", "embedded"])


@asynccontextmanager
async def relaying_runtime(settings: Settings, events: EventSink) -> AsyncIterator[Runtime]:
    """A worker's (or the web side's) runtime: what services commit, the relay hands to arq on
    the settings' Redis at once, and events to `events`."""
    runtime = await Runtime.open(settings)
    assert runtime.redis is not None
    runtime.attach(jobs=ArqJobSink(runtime.redis, settings), events=events)
    try:
        yield runtime
    finally:
        await runtime.close()


AppClient = Callable[..., Awaitable[TestClient[web.Request, web.Application]]]
