"""What a paid order delivers, and what a refund takes back.

Fulfilment runs under the order's row lock right after it became `paid`: the ledger payment
(gateway -> platform cash), then each item once (content and courses an entitlement, credit
packs credits, plans a subscription period, physical goods only marked: shipping is not part of
the platform), each creator's sale, `fulfilled`, and the buyer's notification. Every step is
idempotent on its own too (ledger references, grant sources, item `fulfilled_at`).
"""

from __future__ import annotations

from datetime import datetime

from models.commerce.orders import Order, OrderItem
from server.commerce.earnings import service as earnings
from server.commerce.ledger import service as ledger
from server.commerce.orders import states
from server.commerce.shipping import service as shipping
from server.commerce.subscriptions import refunds as subscription_refunds
from server.commerce.subscriptions import service as subscriptions
from server.commerce.wallet import service as wallet
from server.content.items import access
from server.db import UnitOfWork
from server.notify.notifications import service as notifications

ORDER_ITEM = "order_item"
PAYMENT = "payment"
REFUND = "refund"


async def _accounts(uow: UnitOfWork, order: Order, provider: str) -> tuple[int, int]:
    """The gateway's clearing account (negative by what it owes us) and platform cash."""
    gateway = await ledger.platform_account(
        uow.session, purpose=f"gateway:{provider}", currency=order.currency, allow_negative=True
    )
    cash = await ledger.platform_account(uow.session, purpose="cash", currency=order.currency)
    return gateway, cash


async def post_payment(uow: UnitOfWork, order: Order) -> None:
    if order.total <= 0 or order.provider is None:
        return
    gateway, cash = await _accounts(uow, order, order.provider)
    await ledger.post(
        uow.session,
        kind=PAYMENT,
        reference=f"order:{order.id}",
        legs=[(gateway, -order.total), (cash, order.total)],
        user_id=order.user_id,
        memo=f"order {order.number}",
    )


async def post_refund(uow: UnitOfWork, order: Order, *, amount: int, refund_ref: str) -> None:
    if amount <= 0 or order.provider is None:
        return
    gateway, cash = await _accounts(uow, order, order.provider)
    await ledger.post(
        uow.session,
        kind=REFUND,
        reference=f"order:{order.id}:{refund_ref}",
        legs=[(cash, -amount), (gateway, amount)],
        user_id=order.user_id,
        memo=f"refund of order {order.number}",
    )


async def deliver(uow: UnitOfWork, order: Order, item: OrderItem, *, now: datetime) -> None:
    """Give the buyer one item, once."""
    if item.fulfilled_at is not None:
        return
    if item.kind in ("content", "course") and item.content_id is not None:
        await access.grant(
            uow.session,
            user_id=order.user_id,
            subject_type="content",
            subject_id=item.content_id,
            source=ORDER_ITEM,
            source_id=str(item.id),
            starts_at=now,
        )
    elif item.kind == "credits" and item.credits:
        await wallet.credit(
            uow,
            user_id=order.user_id,
            amount=item.credits * item.quantity,
            kind="recharge",
            reference=f"order_item:{item.id}",
            memo=f"order {order.number}",
        )
    elif item.kind == "plan":
        await subscriptions.start_or_extend(uow, order=order, item=item)
    elif item.kind == "physical":
        # Physical goods go into their seller's shipment: delivered when it arrives.
        await shipping.open_shipments(uow, order, [item], now=now)
        return
    item.fulfilled_at = now


async def fulfil(uow: UnitOfWork, order: Order, items: list[OrderItem], *, now: datetime) -> None:
    """Deliver a `paid` order, mark it `fulfilled` and tell the buyer; the money moves last:
    every payment locks the platform's cash account until commit, so for as short a time as
    possible."""
    for item in items:
        await deliver(uow, order, item, now=now)
    order.fulfilled_at = now
    await states.move(uow, order, states.FULFILLED, now=now, reason="delivered")
    await notifications.notify(
        uow,
        user_id=order.user_id,
        type="order.paid",
        title=f"Order {order.number} is paid",
        body=_summary(items),
        data={"order_id": order.id, "number": order.number, "total": order.total},
    )
    await post_payment(uow, order)
    for item in items:
        if item.creator_id is not None and item.amount > 0:
            await earnings.record_sale(uow, order=order, item=item)
    await uow.session.flush()


async def take_back(
    uow: UnitOfWork, order: Order, item: OrderItem, *, amount: int, refund_ref: str, now: datetime
) -> None:
    """Undo `amount` of one item: the creator's share always; the item itself (entitlement,
    credits, a plan's period and subscription) once it is refunded in full (credits: in
    proportion for a part)."""
    if item.creator_id is not None:
        await earnings.claw_back(uow, order=order, item=item, amount=amount)
    whole = item.refunded_amount >= item.amount
    if item.kind == "credits" and item.credits:
        # The credits of the refunded part so far, less those of the parts refunded before.
        bought = item.credits * item.quantity
        credits = _part(bought, item.refunded_amount, item.amount) - _part(
            bought, item.refunded_amount - amount, item.amount
        )
        if credits > 0:
            await wallet.revoke_credits(
                uow,
                user_id=order.user_id,
                amount=credits,
                reference=f"order_item:{item.id}:{refund_ref}",
            )
    if whole:
        await access.revoke(uow.session, source=ORDER_ITEM, source_id=str(item.id), now=now)
        if item.kind == "plan":
            await subscription_refunds.end_refunded(uow, order_item_id=item.id, now=now)


def _part(whole: int, refunded: int, amount: int) -> int:
    return whole if refunded >= amount else whole * refunded // amount


def _summary(items: list[OrderItem]) -> str:
    titles = [item.title for item in items[:3]]
    more = len(items) - len(titles)
    return "、".join(titles) + (f" +{more}" if more > 0 else "")
