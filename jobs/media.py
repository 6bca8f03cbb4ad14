"""Media tasks (on the media queue): image sizes, video poster and rendition, audio duration,
tags and rendition."""

from __future__ import annotations

from typing import Any

from jobs.progress import report_progress
from jobs.registry import runtime_of, task
from server.content.media import processing, service
from server.content.media.checks import MediaBroken
from server.outbox import MEDIA_QUEUE

TASK = service.PROCESS_TASK


@task(TASK, timeout=1800, max_tries=3, queue=MEDIA_QUEUE)
async def process_media(ctx: dict[str, Any], *, media_id: int) -> str | None:
    """Make the variants of one upload and mark it ready (or failed, with the reason); the new
    status, or None when there was nothing (left) to do. Running twice changes nothing."""
    runtime = runtime_of(ctx)
    async with runtime.db.unit_of_work() as uow:
        job = await service.begin_processing(uow, media_id=media_id, now=runtime.clock.now())
    if job is None:
        return None

    async def progress(done: int, total: int, message: str) -> None:
        await report_progress(
            ctx, user_id=job.owner_id, job=TASK, done=done, total=total, message=message
        )

    await progress(0, 100, "started")
    try:
        result = await processing.process(
            runtime.storage, runtime.settings, kind=job.kind, key=job.storage_key, progress=progress
        )
    except MediaBroken as exc:
        async with runtime.db.unit_of_work() as uow:
            await service.fail_processing(
                uow, media_id=media_id, error=str(exc), now=runtime.clock.now()
            )
        await progress(100, 100, "failed")
        return "failed"
    async with runtime.db.unit_of_work() as uow:
        await service.finish_processing(
            uow, media_id=media_id, result=result, now=runtime.clock.now()
        )
    await progress(100, 100, "ready")
    return "ready"


TASKS = (process_media,)
