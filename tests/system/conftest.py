"""Fixtures for system tests: real processes on the test database and Redis DB, and faults.

    async def test_x(start_web, start_worker, fault_proxy, redis_url):
        redis = await fault_proxy(redis_url)              # a proxy to the real Redis
        web = await start_web(redis_url=redis.url(redis_url))
        worker = await start_worker()
        redis.cut(); ...; redis.restore()

Every process a test starts is stopped at its teardown (SIGTERM, then SIGKILL), failed or not,
before the suite's own clean-up empties the tables and the Redis DB. When a test fails, the last
lines of each process's output are added to its report.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import PII_KEYS, REDIS_BASE, REDIS_DB, RUN_PREFIX
from tests.system.harness import (
    FaultProxy,
    ProcessGroup,
    PubSubRecorder,
    WebProcess,
    WorkerProcess,
    environment,
)

PROCESSES = pytest.StashKey[ProcessGroup]()

StartWeb = Callable[..., Awaitable[WebProcess]]
StartWorker = Callable[..., Awaitable[WorkerProcess]]
MakeProxy = Callable[[str], Awaitable[FaultProxy]]
Record = Callable[[str], Awaitable[PubSubRecorder]]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.system)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    group = item.stash.get(PROCESSES, None)
    if report.failed and group is not None and group.processes:
        report.sections.append((f"processes ({call.when})", group.tails()))
    return report


@pytest.fixture
def redis_url() -> str:
    """The real Redis DB of this test run."""
    return f"{REDIS_BASE}/{REDIS_DB}"


@pytest.fixture
def system_settings(database_url: str, engine: AsyncEngine, redis_url: str) -> dict[str, Any]:
    """Settings values (field names) for processes on the test database and Redis DB.

    Depending on `engine` puts the test under the suite's clean-up: tables and the Redis DB are
    emptied after it, once its processes have stopped.
    """
    return {
        "environment": "test",
        "database_url": database_url,
        "redis_url": redis_url,
        "key_prefix": RUN_PREFIX,
        "log_level": "INFO",
        "log_format": "json",
        "rate_limit_ip": "100000/minute",
        "rate_limit_account": "100000/minute",
        "rate_limit_sync_seconds": 0.05,
        "outbox_sweep_after_seconds": 0.5,
        "job_timeout_seconds": 10,
        "worker_poll_delay": 0.05,
        **PII_KEYS,
    }


@pytest.fixture
async def processes(
    request: pytest.FixtureRequest, tmp_path: Path, fault_proxy: MakeProxy
) -> AsyncIterator[ProcessGroup]:
    # Depends on `fault_proxy` so that processes stop before their proxies close.
    group = ProcessGroup(tmp_path / "processes")
    request.node.stash[PROCESSES] = group
    yield group
    await group.stop_all()


@pytest.fixture
async def check_redis(redis_url: str) -> AsyncIterator[Redis]:
    """A client on the real Redis, for readiness checks and assertions."""
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def start_web(processes: ProcessGroup, system_settings: dict[str, Any]) -> StartWeb:
    """`await start_web(**settings_overrides)`: a ready `python -m server serve`."""

    async def start(*, within: float = 30.0, **overrides: Any) -> WebProcess:
        env = environment({**system_settings, **overrides})
        process = WebProcess(processes.name("web"), env, processes.log_dir)
        await processes.start(process, within=within)
        return process

    return start


@pytest.fixture
def start_worker(
    processes: ProcessGroup, system_settings: dict[str, Any], check_redis: Redis
) -> StartWorker:
    """`await start_worker(**settings_overrides)`: a ready `python -m jobs worker`."""

    async def start(
        *, within: float = 30.0, settings_class: str = "WorkerSettings", **overrides: Any
    ) -> WorkerProcess:
        env = environment({**system_settings, **overrides})
        process = WorkerProcess(
            processes.name("worker"),
            env,
            processes.log_dir,
            redis=check_redis,
            settings_class=settings_class,
        )
        await processes.start(process, within=within)
        return process

    return start


@pytest.fixture
async def fault_proxy() -> AsyncIterator[MakeProxy]:
    """`proxy = await fault_proxy(url)`: a FaultProxy to that URL's host:port; `proxy.url(url)`."""
    proxies: list[FaultProxy] = []

    async def make(url: str) -> FaultProxy:
        proxy = await FaultProxy.for_url(url)
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        await proxy.close()


@pytest.fixture
async def socketio_channel(redis_url: str) -> AsyncIterator[Record]:
    """`recorder = await socketio_channel(prefix)`: records `<prefix>:socketio` on real Redis."""
    client = Redis.from_url(redis_url)
    recorders: list[PubSubRecorder] = []

    async def record(prefix: str = RUN_PREFIX) -> PubSubRecorder:
        recorder = PubSubRecorder(client, f"{prefix}:socketio")
        await recorder.start()
        recorders.append(recorder)
        return recorder

    yield record
    for recorder in recorders:
        await recorder.close()
    await client.aclose()
