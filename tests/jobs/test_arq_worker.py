"""QueueWorker (jobs/arq_worker.py) against real Redis: job leases, Redis outages, and the cron
schedules of two deployments sharing one Redis DB.

The workers here run small tasks of the test's own on a queue under the run's key prefix; the
outage tests reach Redis through a FaultProxy that cuts the path and restores it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.constants import in_progress_key_prefix
from arq.cron import cron
from arq.worker import func
from redis.asyncio import Redis

from jobs.arq_worker import REDIS_DOWN, QueueWorker
from jobs.registry import deployment_cron_jobs
from server.settings import Settings
from tests.system.harness import FaultProxy, eventually

pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")


class Calls:
    """Tasks that count their runs; `slow` runs until `release` is set."""

    def __init__(self) -> None:
        self.runs: dict[str, int] = {}
        self.release = asyncio.Event()

    async def quick(self, ctx: dict[str, Any], *, tag: str) -> str:
        self.runs[tag] = self.runs.get(tag, 0) + 1
        return tag

    async def slow(self, ctx: dict[str, Any], *, tag: str) -> str:
        self.runs[tag] = self.runs.get(tag, 0) + 1
        await self.release.wait()
        return tag

    def functions(self) -> list[Any]:
        return [
            func(self.quick, name="quick", timeout=5),
            func(self.slow, name="slow", timeout=600),
        ]


@pytest.fixture
def queue(settings: Settings) -> str:
    return settings.channel("queue:lease-test")


@pytest.fixture
async def pool(settings: Settings, queue: str) -> AsyncIterator[ArqRedis]:
    assert settings.redis_url is not None
    pool = await create_pool(RedisSettings.from_dsn(settings.redis_url), default_queue_name=queue)
    yield pool
    await pool.aclose()


@contextlib.asynccontextmanager
async def running(worker: QueueWorker) -> AsyncIterator[asyncio.Task[None]]:
    """The worker polling in the background; stopped and closed on the way out."""
    main = asyncio.ensure_future(worker.async_run())
    try:
        yield main
    finally:
        main.cancel()
        with contextlib.suppress(BaseException):
            await main
        for task in worker.tasks.values():
            task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.gather(*worker.tasks.values(), return_exceptions=True)
        worker.tasks.clear()
        with contextlib.suppress(Exception):
            await worker.close()


def make_worker(
    calls: Calls, queue: str, redis_url: str, *, lease: float = 1.0, **options: Any
) -> QueueWorker:
    return QueueWorker(
        functions=calls.functions(),
        queue_name=queue,
        redis_settings=RedisSettings.from_dsn(redis_url),
        poll_delay=0.05,
        handle_signals=False,
        lease_seconds=lease,
        **options,
    )


# --- leases ---------------------------------------------------------------------------------------


def test_the_claim_on_a_started_job_is_a_lease_not_the_longest_timeout(
    settings: Settings, queue: str
) -> None:
    assert settings.redis_url is not None
    worker = make_worker(Calls(), queue, settings.redis_url, lease=20)
    assert worker.in_progress_timeout_s == 20  # arq alone: 600 + 10


async def test_a_job_running_past_its_lease_keeps_its_claim_and_runs_once(
    settings: Settings, queue: str, pool: ArqRedis, redis: Redis
) -> None:
    assert settings.redis_url is not None
    calls = Calls()
    job_id = settings.channel("lease:long")
    first = make_worker(calls, queue, settings.redis_url, lease=0.6)
    second = make_worker(calls, queue, settings.redis_url, lease=0.6)
    await pool.enqueue_job("slow", _job_id=job_id, tag="long")

    async with running(first), running(second):
        await eventually(lambda: _ran(calls, "long"), within=10, what="the slow job started")
        ttls = []
        for _ in range(6):  # three leases long
            await asyncio.sleep(0.3)
            ttls.append(await redis.pttl(in_progress_key_prefix + job_id))
        assert all(0 < ttl <= 600 for ttl in ttls), ttls
        calls.release.set()
        await eventually(
            lambda: _gone(redis, in_progress_key_prefix + job_id), within=10, what="job finished"
        )

    assert calls.runs == {"long": 1}
    assert first.jobs_complete + second.jobs_complete == 1


async def test_a_job_whose_worker_stopped_renewing_runs_again_on_another_one_lease_later(
    settings: Settings, queue: str, pool: ArqRedis
) -> None:
    assert settings.redis_url is not None
    calls = Calls()
    await pool.enqueue_job("slow", _job_id=settings.channel("lease:orphan"), tag="orphan")
    stalled = make_worker(calls, queue, settings.redis_url, lease=0.6)
    main = asyncio.ensure_future(stalled.async_run())
    try:
        await eventually(lambda: _ran(calls, "orphan"), within=10, what="the job started")
        # The worker stops polling and renewing (as if killed); its job never finishes.
        main.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await main

        survivor = make_worker(calls, queue, settings.redis_url, lease=0.6)
        async with running(survivor):
            await eventually(
                lambda: _ran_twice(calls, "orphan"), within=5, what="the job started again"
            )
            calls.release.set()
            await eventually(lambda: _complete(survivor), within=5, what="the rerun finished")
    finally:
        calls.release.set()
        await asyncio.gather(*stalled.tasks.values(), return_exceptions=True)
        await stalled.close()
    assert calls.runs == {"orphan": 2}


async def test_renewing_no_running_job_touches_nothing(settings: Settings, queue: str) -> None:
    assert settings.redis_url is not None
    worker = make_worker(Calls(), queue, settings.redis_url)
    assert await worker.renew_leases() == 0


# --- Redis outages --------------------------------------------------------------------------------


async def test_a_worker_waits_out_a_redis_outage_and_then_runs_new_jobs(
    settings: Settings, queue: str, pool: ArqRedis
) -> None:
    assert settings.redis_url is not None
    proxy = await FaultProxy.for_url(settings.redis_url)
    calls = Calls()
    calls.release.set()
    worker = make_worker(calls, queue, proxy.url(settings.redis_url), lease=0.6, max_jobs=1)
    try:
        async with running(worker) as main:
            await pool.enqueue_job("quick", _job_id=settings.channel("outage:1"), tag="before")
            await eventually(lambda: _ran(calls, "before"), within=10, what="a job before")

            proxy.cut()
            await eventually(lambda: _failing(worker), within=10, what="polls failing")
            await asyncio.sleep(2)
            assert not main.done(), "the worker stays up while Redis is away"

            proxy.restore()
            await pool.enqueue_job("quick", _job_id=settings.channel("outage:2"), tag="after")
            await pool.enqueue_job("quick", _job_id=settings.channel("outage:3"), tag="later")
            await eventually(
                lambda: _ran(calls, "after", "later"), within=15, what="jobs after the outage"
            )
            assert worker.redis_failures == 0
    finally:
        await proxy.close()
    assert calls.runs == {"before": 1, "after": 1, "later": 1}


async def test_a_job_running_through_a_redis_outage_finishes_and_is_recorded_once_back(
    settings: Settings, queue: str, pool: ArqRedis, redis: Redis
) -> None:
    assert settings.redis_url is not None
    proxy = await FaultProxy.for_url(settings.redis_url)
    calls = Calls()
    job_id = settings.channel("outage:through")
    worker = make_worker(calls, queue, proxy.url(settings.redis_url), lease=0.6)
    try:
        async with running(worker) as main:
            await pool.enqueue_job("slow", _job_id=job_id, tag="through")
            await eventually(lambda: _ran(calls, "through"), within=10, what="the job started")
            proxy.cut()
            await asyncio.sleep(1.5)  # its lease cannot be renewed meanwhile
            proxy.restore()
            calls.release.set()
            await eventually(lambda: _complete(worker), within=15, what="the job finished")
            assert not main.done()
    finally:
        await proxy.close()
    assert calls.runs == {"through": 1}
    assert not await redis.exists(in_progress_key_prefix + job_id)


async def test_a_claim_cut_short_by_redis_gives_its_job_slot_back(
    settings: Settings, queue: str, pool: ArqRedis
) -> None:
    assert settings.redis_url is not None
    proxy = await FaultProxy.for_url(settings.redis_url)
    worker = make_worker(Calls(), queue, proxy.url(settings.redis_url), max_jobs=1)
    try:
        worker._pool = await create_pool(
            RedisSettings.from_dsn(proxy.url(settings.redis_url)), default_queue_name=queue
        )
        proxy.cut()
        with pytest.raises(REDIS_DOWN):
            await worker.start_jobs([settings.channel("outage:claim").encode()])
        assert worker.job_counter == 0
        proxy.restore()
        # The one slot is free: a job is claimed and started.
        job_id = settings.channel("outage:claimed")
        await pool.enqueue_job("quick", _job_id=job_id, tag="claimed")
        await worker.start_jobs([job_id.encode()])
        assert list(worker.tasks) == [job_id]
        await asyncio.gather(*worker.tasks.values())
    finally:
        await worker.close()
        await proxy.close()


# --- cron schedules -------------------------------------------------------------------------------


async def test_two_deployments_on_one_redis_db_each_run_their_cron_at_the_same_tick(
    settings: Settings,
) -> None:
    assert settings.redis_url is not None
    ran: dict[str, set[str]] = {"east": set(), "west": set()}

    async def tick(ctx: dict[str, Any]) -> None:
        ran[ctx["deployment"]].add(ctx["job_id"].rpartition(":")[2])  # the tick's time

    every_second = cron(tick, name="cron:tick", second=set(range(60)), unique=True)
    workers = [
        QueueWorker(
            cron_jobs=deployment_cron_jobs(settings.channel(deployment), [every_second]),
            queue_name=settings.channel(f"{deployment}:queue"),
            redis_settings=RedisSettings.from_dsn(settings.redis_url),
            poll_delay=0.05,
            handle_signals=False,
            ctx={"deployment": deployment},
        )
        for deployment in ran
    ]

    async def both_ran_one_tick() -> bool:
        return bool(ran["east"] & ran["west"])

    async with running(workers[0]), running(workers[1]):
        await eventually(both_ran_one_tick, within=15, what="both deployments ran one tick")


async def _ran(calls: Calls, *tags: str) -> bool:
    return all(calls.runs.get(tag) for tag in tags)


async def _ran_twice(calls: Calls, tag: str) -> bool:
    return calls.runs.get(tag, 0) >= 2


async def _complete(worker: QueueWorker) -> bool:
    return worker.jobs_complete >= 1


async def _failing(worker: QueueWorker) -> bool:
    return worker.redis_failures >= 1


async def _gone(redis: Redis, key: str) -> bool:
    return not await redis.exists(key)
