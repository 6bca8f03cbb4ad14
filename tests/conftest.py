"""Shared fixtures: a MariaDB database and Redis DB number of this test run's own, apps, sockets.

The suite never touches data it did not create: databases are named `sharestack_test_*`, Redis
DB numbers 10-13 belong to the tests (14 to the benchmarks), and pub/sub channels carry a per-run
prefix.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import socketio
import structlog
import time_machine
from aiohttp import web
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

import models
from server.__main__ import migrate
from server.app import create_app
from server.http.registry import RouteTable
from server.runtime import Runtime
from server.settings import Settings
from tests.fakes.alipay import FakeAlipay
from tests.fakes.base import start as start_fake
from tests.helpers.env import (
    DATABASE_NAME,
    EMBEDDED_TEMPLATE,
    REDIS_BASE,
    REDIS_DB,
    RUN_PREFIX,
    TEST_NOW,
    AppClient,
    create_database,
    drop_database,
    embedded_twin,
    make_settings,
    pinned_instant,
)

# tests/system reads these from here too.
from tests.helpers.env import PII_KEYS as PII_KEYS
from tests.helpers.env import relaying_runtime as relaying_runtime
from tests.helpers.realtime import TIMEOUT, Connect, Socket, realtime_settings

_TRAVELLER = pytest.StashKey[time_machine.travel]()


def pytest_configure(config: pytest.Config) -> None:
    instant = pinned_instant()
    if instant is not None:
        traveller = time_machine.travel(instant, tick=True)
        traveller.start()
        config.stash[_TRAVELLER] = traveller


def pytest_unconfigure(config: pytest.Config) -> None:
    traveller = config.stash.get(_TRAVELLER, None)
    if traveller is not None:
        traveller.stop()


def pytest_report_header(config: pytest.Config) -> str | None:
    instant = pinned_instant()
    return f"wall clock pinned by {TEST_NOW} to {instant.isoformat()}" if instant else None


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    url = await create_database(DATABASE_NAME)
    await asyncio.to_thread(migrate, make_settings(database_url=url))
    yield url
    await drop_database(DATABASE_NAME)


@pytest.fixture(scope="session", autouse=True)
def _embedded_template_removed() -> Iterator[None]:
    yield
    shutil.rmtree(EMBEDDED_TEMPLATE, ignore_errors=True)


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(f"{REDIS_BASE}/{REDIS_DB}")
    yield client
    await client.aclose()


@pytest.fixture(autouse=True)
def _default_logging() -> None:
    """Each test starts from structlog's defaults, whatever an earlier one configured."""
    structlog.reset_defaults()


_TABLES_WITH_ROWS = " UNION ALL ".join(
    f"SELECT '{table.name}' FROM DUAL WHERE EXISTS (SELECT 1 FROM `{table.name}`)"
    for table in models.Base.metadata.sorted_tables
)


@pytest.fixture(autouse=True)
async def _clean_state(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """After each test that touched them: empty every table and our Redis DB."""
    touches = {"engine", "settings", "redis"} & set(request.fixturenames)
    engine: AsyncEngine | None = request.getfixturevalue("engine") if touches else None
    yield
    if engine is not None:
        async with engine.begin() as conn:
            # One query names the tables that hold rows; most tests fill a few of them.
            filled = {name for (name,) in await conn.exec_driver_sql(_TABLES_WITH_ROWS)}
            for table in reversed(models.Base.metadata.sorted_tables):
                if table.name in filled:
                    await conn.execute(table.delete())
        # Only this run's keys: another suite may be running on the same DB number.
        client = Redis.from_url(f"{REDIS_BASE}/{REDIS_DB}")
        keys = [key async for key in client.scan_iter(match=f"*{RUN_PREFIX}*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.fixture
def settings(database_url: str, engine: AsyncEngine) -> Settings:
    """Production-mode settings on the test database and Redis DB."""
    return make_settings(database_url=database_url)


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """The test's own way to the database and Redis on `settings`; nothing attached, so it
    relays nothing itself (a test that needs its commits relayed uses `relaying_runtime`)."""
    opened = await Runtime.open(settings)
    yield opened
    await opened.close()


@pytest.fixture
def engine_kind() -> str:
    """The database the apps of a test run on; `on_both_engines` overrides it."""
    return "mariadb"


@pytest.fixture
def make_client(
    aiohttp_client: Any,
    settings: Settings,
    engine_kind: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AppClient:
    """Start the real application (optionally with extra route tables) and a client for it;
    in the embedded mode when the test runs with `engine_kind` "embedded"."""

    async def start(
        app_settings: Settings | None = None,
        *,
        extra_tables: list[RouteTable] | None = None,
        configure: Callable[[web.Application], None] | None = None,
    ) -> TestClient[web.Request, web.Application]:
        from server.app import ROUTE_TABLES

        chosen = app_settings or settings
        if engine_kind == "embedded":
            chosen = await embedded_twin(chosen, tmp_path_factory.mktemp("embedded"))
        app = create_app(chosen, route_tables=ROUTE_TABLES + (extra_tables or []))
        if configure is not None:
            configure(app)
        client: TestClient[web.Request, web.Application] = await aiohttp_client(app)
        return client

    return start


@pytest.fixture
async def client(make_client: AppClient) -> TestClient[web.Request, web.Application]:
    return await make_client()


@pytest.fixture
async def alipay(aiohttp_server: Any) -> FakeAlipay:
    """The fake Alipay, serving; `alipay.settings()` points the app at it."""
    fake = FakeAlipay()
    await start_fake(fake, aiohttp_server)
    return fake


# Real Socket.IO clients against a real listening server (the realtime tests, and the domain
# tests that watch what a socket hears).


@pytest.fixture
def rt_settings(database_url: str, settings: Settings) -> Settings:
    return realtime_settings(database_url)


@pytest.fixture
async def make_server(aiohttp_client: Any, rt_settings: Settings) -> Any:
    async def start(app_settings: Settings | None = None) -> TestClient:
        client: TestClient = await aiohttp_client(create_app(app_settings or rt_settings))
        return client

    return start


@pytest.fixture
async def server(make_server: Any) -> TestClient:
    return await make_server()


@pytest.fixture
async def sockets() -> AsyncIterator[list[Socket]]:
    opened: list[Socket] = []
    yield opened
    for socket in opened:
        if socket.client.connected:
            await socket.client.disconnect()


@pytest.fixture
def connect(sockets: list[Socket]) -> Connect:
    async def open_socket(
        server: TestClient,
        auth: Any = None,
        *,
        headers: dict[str, str] | None = None,
        expect_error: bool = False,
    ) -> Socket:
        client = socketio.AsyncClient(reconnection=False)
        socket = Socket(client)

        @client.on("*")
        async def any_event(event: str, data: Any) -> None:
            await socket.events.put((event, data))

        @client.on("connect_error")
        async def connect_error(data: Any) -> None:
            socket.connect_errors.append(data)

        @client.on("disconnect")
        async def disconnected(*_args: Any) -> None:
            socket.disconnected.set()

        sockets.append(socket)
        url = str(server.make_url("/")).rstrip("/")
        try:
            await client.connect(
                url,
                auth=auth,
                headers=headers or {},
                transports=["websocket"],
                wait_timeout=TIMEOUT,
            )
        except socketio.exceptions.ConnectionError:
            if not expect_error:
                raise
        else:
            assert not expect_error, "the connection was expected to be refused"
        return socket

    return open_socket
