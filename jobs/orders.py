"""Order tasks: cancelling orders left unpaid past their deadline."""

from __future__ import annotations

from typing import Any

from jobs.registry import runtime_of, schedule, task
from server.commerce.orders import service

# Most overdue orders one sweep cancels (the next sweep takes the rest).
SWEEP_BATCH = 500


@task(service.EXPIRE, timeout=30)
async def expire(ctx: dict[str, Any], *, order_id: int) -> bool:
    """Cancel one order still unpaid at its deadline (deferred at checkout by the order's id);
    a paid, cancelled or not yet due order is left alone, so running it twice is harmless."""
    runtime = runtime_of(ctx)
    async with runtime.db.unit_of_work() as uow:
        return await service.expire(uow, order_id=order_id, now=runtime.clock.now())


@task("orders.expire_due", timeout=120)
async def expire_due(ctx: dict[str, Any]) -> int:
    """The safety net: cancel every unpaid order past its deadline whose job was lost."""
    runtime = runtime_of(ctx)
    async with runtime.db.read() as session:
        due = await service.overdue(session, now=runtime.clock.now(), limit=SWEEP_BATCH)
    cancelled = 0
    for order_id in due:
        async with runtime.db.unit_of_work() as uow:
            cancelled += await service.expire(uow, order_id=order_id, now=runtime.clock.now())
    return cancelled


TASKS = (expire, expire_due)
SCHEDULES = (schedule(expire_due, minute=set(range(5, 60, 10)), second=15),)
