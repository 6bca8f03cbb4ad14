"""An avatar upload has no row of its own: its job's outbox row is kept until the job is done,
so a Redis that lost the job gets it again from the outbox sweep (server/outbox.py `keep`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from arq.constants import job_key_prefix
from redis.asyncio import Redis
from sqlalchemy import func, select, update

from jobs.sinks import arq_job_id, queue_names
from models.platform import OutboxMessage
from server.keys import RUNTIME
from server.runtime import Runtime
from server.settings import Settings
from tests.helpers.env import relaying_runtime
from tests.helpers.profiles import Person, sign_up
from tests.jobs.test_avatars import (
    avatar_url,
    files_of,
    run_media_worker,
    upload,
)
from tests.jobs.test_worker import RecordingEvents
from tests.server.identity.users.images import image_bytes, jpeg_with_exif

# arq's Worker.close() still calls redis-py's deprecated close().
pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """The runtime a media worker builds."""
    async with relaying_runtime(settings, RecordingEvents()) as runtime:
        yield runtime


async def ann_uploads(client: Any, image: bytes) -> Person:
    """Ann signs up and uploads `image` as her avatar."""
    ann = await sign_up(client, "Ann")
    await upload(client, ann, image)
    return ann


async def kept_rows(runtime: Runtime) -> list[Any]:
    async with runtime.db.read() as session:
        return list(
            (
                await session.execute(
                    select(OutboxMessage.id, OutboxMessage.created_at).where(
                        OutboxMessage.name == "users.process_avatar"
                    )
                )
            ).all()
        )


async def media_queue(redis: Redis, settings: Settings) -> list[str]:
    return [j.decode() for j in await redis.zrange(queue_names(settings)["media"], 0, -1)]


async def lose_redis_jobs(redis: Redis, settings: Settings, queue: str | None = "media") -> None:
    """What a Redis restarted without persistence does to this run's jobs on `queue`."""
    name = queue_names(settings)[queue]
    for job_id in await redis.zrange(name, 0, -1):
        await redis.delete(job_key_prefix + job_id.decode())
    await redis.delete(name)


async def make_due(runtime: Runtime) -> None:
    async with runtime.db.unit_of_work() as uow:
        await uow.session.execute(
            update(OutboxMessage).values(created_at=runtime.clock.now() - timedelta(minutes=1))
        )


async def test_an_avatar_job_lost_by_redis_is_sent_again_and_its_row_goes_once_done(
    client: Any, settings: Settings, runtime: Runtime, redis: Redis
) -> None:
    web: Runtime = client.app[RUNTIME]
    ann = await ann_uploads(client, image_bytes("PNG"))
    [original] = files_of(client, f"uploads/avatars/{ann.id}")
    job_id = arq_job_id(settings, f"avatar:uploads/avatars/{ann.id}/{original.name}")
    [row] = await kept_rows(web)
    assert row.created_at > web.clock.now(), "sent: not due again before the recovery age"
    assert await media_queue(redis, settings) == [job_id]

    await lose_redis_jobs(redis, settings)
    assert await web.relay.sweep() == 0  # type: ignore[union-attr]
    await make_due(web)
    assert await web.relay.sweep() == 1  # type: ignore[union-attr]
    assert await media_queue(redis, settings) == [job_id]

    worker = await run_media_worker(settings, runtime)

    assert (worker.jobs_complete, worker.jobs_failed) == (1, 0)
    assert (await avatar_url(client, ann) or "").endswith("-256.webp")
    assert await kept_rows(web) == []
    assert files_of(client, f"uploads/avatars/{ann.id}") == []


async def test_a_kept_avatar_job_still_queued_is_not_queued_twice(
    client: Any, settings: Settings, runtime: Runtime, redis: Redis
) -> None:
    web: Runtime = client.app[RUNTIME]
    await ann_uploads(client, image_bytes("PNG"))
    await make_due(web)

    assert await web.relay.sweep() == 1  # type: ignore[union-attr]

    assert len(await media_queue(redis, settings)) == 1
    worker = await run_media_worker(settings, runtime)
    assert (worker.jobs_complete, worker.jobs_failed) == (1, 0)
    assert await kept_rows(web) == []


async def test_an_avatar_that_cannot_be_decoded_acknowledges_its_job(
    client: Any, settings: Settings, runtime: Runtime
) -> None:
    web: Runtime = client.app[RUNTIME]
    ann = await ann_uploads(client, jpeg_with_exif()[:2000])

    await run_media_worker(settings, runtime)

    assert await avatar_url(client, ann) is None
    assert await kept_rows(web) == []
    async with web.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
