"""`job.progress` user events for long jobs: best effort, never failing the job."""

from __future__ import annotations

from typing import Any

import structlog

from jobs.registry import runtime_of
from server.outbox import UNREACHABLE, Event

log = structlog.get_logger("jobs.progress")


def percent_of(done: int, total: int) -> int:
    """Whole percent done, 0..100; a job of unknown or zero size is done when it says so."""
    if total <= 0:
        return 100 if done > 0 else 0
    return max(0, min(100, done * 100 // total))


async def report_progress(
    ctx: dict[str, Any], *, user_id: int, job: str, done: int, total: int, message: str = ""
) -> None:
    """Send `job.progress` to the user's room; a rerun step sends the same dedupe id."""
    events = runtime_of(ctx).events
    if events is None:
        return
    job_id = str(ctx.get("job_id") or job)
    data = {
        "job_id": job_id,
        "job": job,
        "done": done,
        "total": total,
        "percent": percent_of(done, total),
        "message": message,
    }
    event = Event(
        type="job.progress",
        data=data,
        user_ids=(user_id,),
        dedupe_id=f"progress:{job_id}:{done}",
    )
    try:
        await events.send(event)
    except UNREACHABLE as exc:  # the job's work matters more than its progress bar
        log.warning("job.progress_not_sent", job_id=job_id, error=repr(exc))
