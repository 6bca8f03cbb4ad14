"""Tutor tasks: streaming a run (on the tutor queue, tried once: a run is never sent to a
provider twice) and the reaper that finishes runs whose worker died."""

from __future__ import annotations

from typing import Any

from jobs.registry import runtime_of, schedule, task
from server.outbox import TUTOR_QUEUE
from server.tutor.runs import answering, settle, tools
from server.tutor.runs.feed import FeedEntry
from server.tutor.runs.service import RUN

# The longest answer a worker streams (a run still going then is the reaper's).
RUN_TIMEOUT = 900
REAP_BATCH = 200


@task(RUN, timeout=RUN_TIMEOUT, max_tries=1, queue=TUTOR_QUEUE)
async def run(ctx: dict[str, Any], *, run_id: int) -> str | None:
    """Stream one run and finish it; a run already started or ended is refused."""
    runtime = runtime_of(ctx)
    return await answering.answer(runtime, tools.tools_of(runtime), run_id=run_id)


@task("tutor.reap", timeout=120, max_tries=1)
async def reap(ctx: dict[str, Any]) -> int:
    """Finish runs whose worker died (`tutor.interrupted`, billed from their last checkpoint);
    queue again the jobs of runs left waiting (Redis may have lost them)."""
    runtime = runtime_of(ctx)
    settings = runtime.settings
    async with runtime.db.read() as session:
        lost = await settle.lost_runs(
            session,
            now=runtime.clock.now(),
            after_seconds=settings.tutor_reap_after_seconds,
            limit=REAP_BATCH,
        )
    async with runtime.db.unit_of_work() as uow:
        await settle.requeue_waiting(
            uow,
            now=runtime.clock.now(),
            after_seconds=settings.tutor_reap_after_seconds,
            limit=REAP_BATCH,
        )
    feed = tools.feed_of(runtime)
    reaped = 0
    for run_id in lost:
        async with runtime.db.unit_of_work() as uow:
            ended = await settle.reap(
                uow, run_id=run_id, settings=settings, now=runtime.clock.now()
            )
        if ended is not None:
            reaped += 1
            event_type, data = ended
            await feed.append(run_id, FeedEntry(data["seq"], event_type, data))
    return reaped


TASKS = (run, reap)
SCHEDULES = (schedule(reap, second=20),)
