"""A plan order item refunded in full takes back what it bought: the period (and the grace
after it) stop granting the plan, and the subscription ends. A partial refund keeps access."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from models.commerce.subscriptions import LIVE_STATUSES, SubscriptionEvent
from server.commerce.subscriptions import service
from server.commerce.subscriptions.service import PERIOD_SOURCE
from server.content.items import access
from server.db import UnitOfWork


async def end_refunded(uow: UnitOfWork, *, order_item_id: int, now: datetime) -> int | None:
    """The order item's period is revoked and its subscription cancelled now (with a history
    row naming the refund); the subscription id, None when the item granted no period. Safe to
    run twice. Periods other orders or wallet charges paid for are left to run out."""
    granted = await uow.session.scalar(
        select(SubscriptionEvent).where(
            SubscriptionEvent.reference == f"order_item:{order_item_id}"
        )
    )
    if granted is None:
        return None
    sub = await service.lock(uow, granted.subscription_id)
    reference = f"refund:order_item:{order_item_id}"
    if await service.referenced(uow, reference) is not None:
        return sub.id
    period = int(granted.detail.get("period", 1))
    for source_id in (f"{sub.id}:{period}", f"{sub.id}:grace:{period}"):
        await access.revoke(uow.session, source=PERIOD_SOURCE, source_id=source_id, now=now)
    if sub.status in LIVE_STATUSES:
        await service.end(
            uow, sub, status="cancelled", now=now, reason="order refunded", reference=reference
        )
    else:
        service.record(
            uow, sub, "period_refunded", now=now, from_status=sub.status, reference=reference
        )
        await uow.session.flush()
    return sub.id
