"""Content tasks: publishing approved items at their scheduled time."""

from __future__ import annotations

from typing import Any

from jobs.registry import runtime_of, schedule, task
from server.content.items import lifecycle


@task("content.publish_scheduled", timeout=30)
async def publish_scheduled(ctx: dict[str, Any], *, content_id: int) -> bool:
    """Publish one item if its time has come (a deferred job; running it twice is harmless)."""
    runtime = runtime_of(ctx)
    async with runtime.db.unit_of_work() as uow:
        return await lifecycle.publish_scheduled(
            uow, content_id=content_id, now=runtime.clock.now()
        )


@task("content.publish_due", timeout=60)
async def publish_due(ctx: dict[str, Any]) -> int:
    """The safety net: publish every item whose time passed without its deferred job."""
    runtime = runtime_of(ctx)
    async with runtime.db.unit_of_work() as uow:
        due = await lifecycle.due_for_publishing(uow, now=runtime.clock.now())
    published = 0
    for content_id in due:
        async with runtime.db.unit_of_work() as uow:
            published += await lifecycle.publish_scheduled(
                uow, content_id=content_id, now=runtime.clock.now()
            )
    return published


TASKS = (publish_scheduled, publish_due)
SCHEDULES = (schedule(publish_due, second=30),)
