"""What a paid order delivers, and what a refund takes back.

The payment itself (gateway -> platform cash in the ledger) is booked in the transaction that
makes the order `paid` (`post_payment`). Delivery runs after it, in the `orders.fulfil` job the
same transaction queued through the outbox (a free order: at once), under the order's row lock
and only while the order is still `paid`: each item once (content and courses an entitlement,
credit packs credits, plans a subscription period, physical goods a place in their seller's
shipment, server/commerce/shipping), each creator's sale, `fulfilled`, and the buyer's
notification. A refund begun before delivery leaves nothing
to deliver: the order is no longer `paid`. Every step is idempotent on its own too (ledger
references, grant sources, item `fulfilled_at`), and a sweep queues the job again for an order
left `paid` (`overdue_deliveries`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.commerce.orders import Order, OrderItem
from server.commerce.catalog import service as catalog
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
# What a credit pack's buyer paid moves from platform cash to the credits liability (CNY): the
# platform owes those credits until they are spent; a refund of the pack moves it back.
CREDITS_SOLD, CREDITS_REFUNDED = "credits_sold", "credits_refunded"
CREDITS_LIABILITY = "credits_liability"
# The job that delivers a paid order (queued by the transaction that made it `paid`).
FULFIL = "orders.fulfil"


def fulfil_job_id(order_id: int) -> str:
    return f"{FULFIL}:{order_id}"


def queue_delivery(uow: UnitOfWork, order: Order) -> None:
    """Deliver the (just paid) order in a job once this transaction commits."""
    uow.outbox.enqueue(FULFIL, job_id=fulfil_job_id(order.id), order_id=order.id)


async def _accounts(uow: UnitOfWork, order: Order, provider: str) -> tuple[int, int]:
    """The gateway's clearing account (negative by what it owes us) and platform cash (sharded:
    a payment locks no platform row; the ledger audit watches that cash never goes below 0)."""
    gateway = await ledger.platform_account(
        uow.session, purpose=f"gateway:{provider}", currency=order.currency, allow_negative=True
    )
    return gateway, await _cash(uow, order.currency)


async def _cash(uow: UnitOfWork, currency: str) -> int:
    return await ledger.platform_account(
        uow.session, purpose="cash", currency=currency, allow_negative=True
    )


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


async def _owe_credits(
    uow: UnitOfWork, order: Order, item: OrderItem, *, amount: int, kind: str, ref: str
) -> None:
    """Move `amount` of what a credit pack sold for from cash to the credits liability (a
    refund: back), once per item (and refund)."""
    if amount <= 0 or order.provider is None:
        return
    cash = await _cash(uow, order.currency)
    owed = await ledger.platform_account(
        uow.session, purpose=CREDITS_LIABILITY, currency=order.currency, allow_negative=True
    )
    sign = 1 if kind == CREDITS_SOLD else -1
    await ledger.post(
        uow.session,
        kind=kind,
        reference=f"order_item:{item.id}{ref}",
        legs=[(cash, -sign * amount), (owed, sign * amount)],
        user_id=order.user_id,
        memo=f"order {order.number}",
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
        await _owe_credits(uow, order, item, amount=item.amount, kind=CREDITS_SOLD, ref="")
    elif item.kind == "plan":
        await subscriptions.start_or_extend(uow, order=order, item=item)
    elif item.kind == "physical":
        # Physical goods go into their seller's shipment: delivered when it arrives.
        await shipping.open_shipments(uow, order, [item], now=now)
        return
    item.fulfilled_at = now


async def fulfil(uow: UnitOfWork, order: Order, items: list[OrderItem], *, now: datetime) -> None:
    """Deliver a (locked) `paid` order, mark it `fulfilled`, book each creator's sale and tell
    the buyer."""
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
    for item in items:
        if item.creator_id is not None and item.amount > 0:
            await earnings.record_sale(uow, order=order, item=item)
    await uow.session.flush()


async def fulfil_paid(uow: UnitOfWork, *, order_id: int, now: datetime) -> bool:
    """The `orders.fulfil` job: deliver the order if it is still `paid` (False otherwise: done
    already, or refunding or refunded before delivery), so running it twice is harmless."""
    order = await states.lock_order(uow, order_id)
    if order.status != states.PAID:
        return False
    await fulfil(uow, order, await states.items_of(uow, order.id), now=now)
    return True


async def overdue_deliveries(
    session: AsyncSession, *, now: datetime, older_than: timedelta, limit: int
) -> list[int]:
    """Ids of orders `paid` for longer than `older_than` and still not delivered (their job
    was lost or failed), oldest first."""
    rows = await session.scalars(
        select(Order.id)
        .where(Order.status == states.PAID, Order.updated_at <= now - older_than)
        .order_by(Order.updated_at)
        .limit(limit)
    )
    return list(rows.all())


async def take_back(
    uow: UnitOfWork, order: Order, item: OrderItem, *, amount: int, refund_ref: str, now: datetime
) -> None:
    """Undo `amount` of one item: the creator's share always; the item itself (entitlement,
    credits, a plan's period and subscription) once it is refunded in full (credits: in
    proportion for a part). An order refunded before it was fulfilled gave nothing and has
    nothing to take back."""
    if order.fulfilled_at is None:
        if item.kind == "physical" and item.refunded_amount >= item.amount:
            # Never handed to a shipment: back on the shelf.
            await catalog.release_stock(
                uow.session, product_id=item.product_id, quantity=item.quantity
            )
        return
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
        # The money goes back to the buyer whatever was left of the credits: the platform no
        # longer owes it in credits.
        await _owe_credits(
            uow, order, item, amount=amount, kind=CREDITS_REFUNDED, ref=f":{refund_ref}"
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
