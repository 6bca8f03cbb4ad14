"""Recovery sweeps: work whose job Redis lost is found in the database and queued again.

Each kind of work with an effect that matters is re-derivable from its rows: a refund still
`pending`, an announcement still `sending`, an upload not yet processed... Every minute each sweep
queues the job of rows left in such a state for `JOB_RECOVERY_AFTER_SECONDS`, under the job id
the service first used. A job still queued, deferred or running keeps that id and is not queued
twice (jobs/sinks.py); one Redis lost, or one whose run ended without finishing the work (it gave
up), is queued again. Order timeouts, payment queries, paying payouts, scheduled publishing and
erasures have safety nets of their own (jobs/orders.py, payments.py, earnings.py, content.py,
accounts.py).

Work no row records is enqueued with `keep=True` (server/outbox.py): its outbox row stays until
the task calls `acknowledge` below, and the outbox sweep sends it again after the same age: avatar
uploads, Play acknowledgements, forgetting an erased author's comments and likes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import structlog

from jobs.registry import Task, runtime_of, schedule, task
from server import outbox
from server.commerce.earnings.recovery import requeue_payouts
from server.commerce.invoices.recovery import requeue_invoices, requeue_receipts
from server.commerce.payments.recovery import requeue_refunds
from server.content.media.recovery import requeue_media
from server.notify.announcements.recovery import requeue_announcements
from server.privacy.accounts.recovery import requeue_exports
from server.runtime import Runtime

log = structlog.get_logger("jobs.recovery")

# Most rows one sweep queues again (the next sweep takes the rest).
SWEEP_BATCH = 200

Requeue = Callable[..., Awaitable[list[int]]]

# name -> (what finds and queues the stuck rows, the second of the minute it runs at)
SWEEPS: dict[str, tuple[Requeue, int]] = {
    "recovery.refunds": (requeue_refunds, 3),
    "recovery.payouts": (requeue_payouts, 8),
    "recovery.announcements": (requeue_announcements, 13),
    "recovery.media": (requeue_media, 18),
    "recovery.invoices": (requeue_invoices, 23),
    "recovery.receipts": (requeue_receipts, 28),
    "recovery.exports": (requeue_exports, 33),
}


async def sweep(ctx: dict[str, Any], name: str, requeue: Requeue) -> int:
    """Queue the job of every row `requeue` finds left since the recovery age; how many."""
    runtime = runtime_of(ctx)
    before: datetime = runtime.clock.now() - timedelta(
        seconds=runtime.settings.job_recovery_after_seconds
    )
    async with runtime.db.unit_of_work() as uow:
        ids = await requeue(uow, before=before, limit=SWEEP_BATCH)
    if ids:
        log.info("recovery.requeued", sweep=name, count=len(ids), ids=ids[:20])
    return len(ids)


async def acknowledge(runtime: Runtime, outbox_id: int | None) -> None:
    """A kept job's work is done: its outbox row goes (None: queued before rows were kept)."""
    if outbox_id is not None:
        async with runtime.db.unit_of_work() as uow:
            await outbox.acknowledge(uow.session, outbox_id)


def _sweep_task(name: str, requeue: Requeue) -> Task:
    async def run(ctx: dict[str, Any]) -> int:
        return await sweep(ctx, name, requeue)

    run.__name__ = run.__qualname__ = name.replace(".", "_")
    run.__doc__ = f"Queue again the jobs {requeue.__name__} finds left unfinished."
    return task(name, timeout=60, max_tries=1)(run)


_SWEEP_TASKS = {name: _sweep_task(name, requeue) for name, (requeue, _) in SWEEPS.items()}
TASKS = tuple(_SWEEP_TASKS.values())
SCHEDULES = tuple(
    schedule(_SWEEP_TASKS[name], second=second) for name, (_, second) in SWEEPS.items()
)
