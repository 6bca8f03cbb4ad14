"""A worker (`python -m jobs worker`) whose path to Redis is cut for ten seconds stays up, and
once Redis is back runs newly queued jobs, its cron schedules and the outbox sweep.

arq's own poll loop exits on the first Redis error; nothing then sweeps the outbox or runs a
cron schedule until someone restarts the worker.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.jobs import Job as ArqJob
from redis.asyncio import Redis

from jobs.sinks import arq_job_id, queue_names
from models.platform import OutboxMessage
from server.runtime import Runtime
from server.settings import Settings
from tests.conftest import make_settings
from tests.system.conftest import MakeProxy, StartWorker
from tests.system.harness import eventually

PURGE = "platform.purge_idempotency_keys"
SWEEP = "platform.sweep_outbox"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url=database_url)


@pytest.fixture
async def arq_pool(settings: Settings) -> AsyncIterator[ArqRedis]:
    assert settings.redis_url is not None
    pool = await create_pool(
        RedisSettings.from_dsn(settings.redis_url),
        default_queue_name=queue_names(settings)[None],
    )
    yield pool
    await pool.aclose()


async def stale_outbox_job(runtime: Runtime) -> int:
    """A committed job the fast path never sent (as if its process died): the sweep's to send."""
    row = OutboxMessage(
        kind="job",
        name=PURGE,
        payload={"kwargs": {}},
        created_at=runtime.clock.now() - timedelta(minutes=1),
    )
    async with runtime.db.sessions() as session:
        session.add(row)
        await session.commit()
    return row.id


async def ran(redis: Redis, settings: Settings, job_id: str) -> bool:
    result = await ArqJob(arq_job_id(settings, job_id), redis).result_info()
    return result is not None and result.success


async def test_a_worker_rides_out_a_redis_outage_then_runs_jobs_crons_and_the_sweep(
    start_worker: StartWorker,
    fault_proxy: MakeProxy,
    redis_url: str,
    check_redis: Redis,
    settings: Settings,
    runtime: Runtime,
    arq_pool: ArqRedis,
    system_settings: dict[str, Any],
) -> None:
    proxy = await fault_proxy(redis_url)
    worker = await start_worker(within=60, redis_url=proxy.url(redis_url))
    before = await stale_outbox_job(runtime)
    await eventually(
        lambda: ran(check_redis, settings, f"outbox:{before}"), within=30, what="swept before"
    )

    proxy.cut()
    await asyncio.sleep(10)
    assert worker.running, f"the worker exited during the outage\n{worker.tail()}"
    assert "worker.redis_unavailable" in worker.output()

    proxy.restore()
    await arq_pool.enqueue_job(PURGE, _job_id=arq_job_id(settings, "after-outage"))
    after = await stale_outbox_job(runtime)

    await eventually(
        lambda: ran(check_redis, settings, "after-outage"), within=30, what="a job queued after"
    )
    await eventually(
        lambda: ran(check_redis, settings, f"outbox:{after}"), within=30, what="swept after"
    )

    # Only the sweep cron sends a stale outbox row: the schedule runs again.
    assert worker.running
    back = worker.output().partition("worker.redis_back")[2]
    assert f"cron:{SWEEP}" in back and "cron:counters.flush" in back
