"""Subscription tasks: the renewal sweep (renew, fall due, retry, expire, end cancelled)."""

from __future__ import annotations

from typing import Any

from jobs.registry import runtime_of, schedule, task
from server.commerce.subscriptions import renewals


@task("subscriptions.renew_due", timeout=120)
async def renew_due(ctx: dict[str, Any]) -> dict[str, int]:
    """Advance every subscription with something due, each in its own transaction (one that
    fails is logged and retried by the next run; the others go on)."""
    runtime = runtime_of(ctx)
    return await renewals.advance_due(
        runtime.db, clock=runtime.clock, policy=renewals.Policy.of(runtime.settings)
    )


TASKS = (renew_due,)
SCHEDULES = (schedule(renew_due, minute=set(range(0, 60, 10)), second=15),)
