"""Shipping tasks: confirming shipments their buyers left unconfirmed."""

from __future__ import annotations

from typing import Any

from jobs.registry import runtime_of, schedule, task
from server.commerce.shipping import service

# Most shipments one sweep confirms (the next sweep takes the rest).
SWEEP_BATCH = 500


@task("shipping.auto_confirm_due", timeout=120)
async def auto_confirm_due(ctx: dict[str, Any]) -> int:
    """Confirm every shipment shipped more than `ORDER_AUTO_CONFIRM_DAYS` ago: its goods count
    as delivered. Each in its own transaction; running it twice is harmless."""
    runtime = runtime_of(ctx)
    days = runtime.settings.order_auto_confirm_days
    async with runtime.db.read() as session:
        due = await service.overdue(session, now=runtime.clock.now(), days=days, limit=SWEEP_BATCH)
    confirmed = 0
    for shipment_id in due:
        async with runtime.db.unit_of_work() as uow:
            confirmed += await service.auto_confirm(
                uow, shipment_id=shipment_id, now=runtime.clock.now(), days=days
            )
    return confirmed


TASKS = (auto_confirm_due,)
SCHEDULES = (schedule(auto_confirm_due, minute=41, second=0),)
