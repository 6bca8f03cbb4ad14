"""Order tasks: delivering paid orders, and cancelling orders left unpaid past their deadline."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from jobs.registry import runtime_of, schedule, task
from server.commerce.orders import fulfilment, service

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


@task(fulfilment.FULFIL, timeout=60)
async def fulfil(ctx: dict[str, Any], *, order_id: int) -> bool:
    """Deliver one paid order (queued by the transaction that made it `paid`); an order already
    delivered, refunded before delivery or gone is left alone, so running it twice is harmless."""
    runtime = runtime_of(ctx)
    async with runtime.db.unit_of_work() as uow:
        return await fulfilment.fulfil_paid(uow, order_id=order_id, now=runtime.clock.now())


@task("orders.fulfil_due", timeout=120, max_tries=1)
async def fulfil_due(ctx: dict[str, Any]) -> int:
    """The safety net: deliver every order left `paid` for a while (its job was lost: Redis
    lost it, or every try failed)."""
    runtime = runtime_of(ctx)
    wait = timedelta(seconds=runtime.settings.order_fulfil_sweep_after_seconds)
    async with runtime.db.read() as session:
        due = await fulfilment.overdue_deliveries(
            session, now=runtime.clock.now(), older_than=wait, limit=SWEEP_BATCH
        )
    delivered = 0
    for order_id in due:
        async with runtime.db.unit_of_work() as uow:
            delivered += await fulfilment.fulfil_paid(
                uow, order_id=order_id, now=runtime.clock.now()
            )
    return delivered


TASKS = (expire, expire_due, fulfil, fulfil_due)
SCHEDULES = (
    schedule(expire_due, minute=set(range(5, 60, 10)), second=15),
    schedule(fulfil_due, second=45),
)
