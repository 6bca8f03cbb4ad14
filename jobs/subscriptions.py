"""Subscription tasks: the renewal sweep (renew, fall due, retry, expire, end cancelled)."""

from __future__ import annotations

from typing import Any

from jobs.registry import runtime_of, schedule, task
from server.commerce.subscriptions import renewals


@task("subscriptions.renew_due", timeout=120)
async def renew_due(ctx: dict[str, Any]) -> dict[str, int]:
    """Advance every subscription with something due, each in its own transaction."""
    runtime = runtime_of(ctx)
    policy = renewals.Policy.of(runtime.settings)
    async with runtime.db.read() as session:
        due = await renewals.due(session, now=runtime.clock.now(), policy=policy)
    outcomes: dict[str, int] = {}
    for subscription_id in due:
        async with runtime.db.unit_of_work() as uow:
            outcome = await renewals.advance(
                uow, subscription_id=subscription_id, now=runtime.clock.now(), policy=policy
            )
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


TASKS = (renew_due,)
SCHEDULES = (schedule(renew_due, minute=set(range(0, 60, 10)), second=15),)
