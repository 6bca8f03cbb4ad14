"""Counter tasks: committed changes from the outbox, the flush of pending increments every 5 s
and the hourly rescore."""

from __future__ import annotations

from typing import Any

from jobs.registry import runtime_of, schedule, task
from server.content import counters


@task(counters.RECORD_TASK, timeout=30)
async def record_changes(
    ctx: dict[str, Any], *, change_id: str, field: str, changes: dict[str, int]
) -> bool:
    """Add a committed change set (likes, favorites, comments) to the pending increments, once."""
    return await counters.record_changes(
        runtime_of(ctx), change_id=change_id, field=field, changes=changes
    )


@task("counters.flush", timeout=30, max_tries=1)
async def flush(ctx: dict[str, Any]) -> int:
    """Move pending increments from Redis to the totals (safe to run twice, or concurrently)."""
    return await counters.flush(runtime_of(ctx))


@task("counters.rescore", timeout=600, max_tries=1)
async def rescore(ctx: dict[str, Any]) -> int:
    """Refresh the hot scores of the window's items as they age."""
    return await counters.rescore(runtime_of(ctx))


TASKS = (record_changes, flush, rescore)
SCHEDULES = (
    schedule(flush, second=set(range(0, 60, 5))),
    schedule(rescore, minute=7, second=0),
)
