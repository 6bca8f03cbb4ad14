"""Refunds of paid orders: begin (money on its way back), complete (the gateway confirmed),
fail (the gateway refused: back to where the order was). The refund HTTP route and the gateway
calls are the payments domain's; these keep the order, the ledger and deliveries right."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from models.base import utcnow
from models.commerce.orders import Order, OrderEvent
from server.commerce.orders import fulfilment, states
from server.commerce.orders.errors import IllegalTransition, RefundTooLarge
from server.commerce.orders.states import PAID, PARTIALLY_REFUNDED, REFUNDABLE, REFUNDED, REFUNDING
from server.commerce.shipping import service as shipping
from server.db import UnitOfWork
from server.http.errors import ValidationFailed
from server.notify.notifications import service as notifications


def _check_amount(order: Order, amount: int) -> None:
    if amount <= 0:
        raise ValidationFailed(fields={"amount": "A refund is a positive amount."})
    if amount > order.total - order.refunded_amount:
        raise RefundTooLarge(
            f"At most {order.total - order.refunded_amount} {order.currency} is left to refund."
        )


async def begin_refund(
    uow: UnitOfWork,
    *,
    order_id: int,
    amount: int,
    reason: str,
    actor_id: int | None,
    now: datetime | None = None,
) -> None:
    """Start refunding `amount` of a paid order (one refund at a time): -> `refunding`. An order
    not yet delivered is refunded whole (its delivery is called off), never in part."""
    order = await states.lock_order(uow, order_id)
    if order.status not in REFUNDABLE:
        raise IllegalTransition(f"An order that is {order.status} cannot be refunded.")
    _check_amount(order, amount)
    if order.status == PAID and amount != order.total - order.refunded_amount:
        raise IllegalTransition("An order not yet delivered is refunded in full or not at all.")
    order.refund_pending = amount
    await states.move(uow, order, REFUNDING, now=now or utcnow(), reason=reason, actor_id=actor_id)


def _event_reason(refund_ref: str) -> str:
    return f"refund {refund_ref}"[:255]


async def complete_refund(
    uow: UnitOfWork,
    *,
    order_id: int,
    amount: int,
    refund_ref: str,
    now: datetime | None = None,
) -> None:
    """The gateway refunded `amount` (`refund_ref` is its refund id): -> `refunded` or
    `partially_refunded`; the refund is shared out over the items in order, entitlements of
    items refunded in full end, credits and creators' shares are taken back, the ledger moves
    cash back to the gateway. The same `refund_ref` again changes nothing. A refund the gateway
    made without `begin_refund` (from its dashboard) is begun here first."""
    now = now or utcnow()
    order = await states.lock_order(uow, order_id)
    done = await uow.session.scalar(
        select(OrderEvent.id).where(
            OrderEvent.order_id == order.id, OrderEvent.reason == _event_reason(refund_ref)
        )
    )
    if done is not None:
        return
    if order.status in REFUNDABLE:
        _check_amount(order, amount)
        if order.status == PAID and amount < order.total - order.refunded_amount:
            # Part of an order not yet delivered, refunded at the gateway: the rest is the
            # buyer's, so it is delivered now and the part taken back from it.
            await fulfilment.fulfil(uow, order, await states.items_of(uow, order.id), now=now)
        await states.move(uow, order, REFUNDING, now=now, reason="refunded at the gateway")
    states.check(order, REFUNDED)
    _check_amount(order, amount)
    await _share_out(uow, order, amount=amount, refund_ref=refund_ref, now=now)
    await fulfilment.post_refund(uow, order, amount=amount, refund_ref=refund_ref)
    order.refunded_amount += amount
    order.refund_pending = 0
    final = REFUNDED if order.refunded_amount >= order.total else PARTIALLY_REFUNDED
    await states.move(uow, order, final, now=now, reason=_event_reason(refund_ref))
    if final == REFUNDED:
        # Refunded whole (at the gateway's dashboard too): nothing more is sent.
        await shipping.cancel_unsent(uow, order, now=now)
    await notifications.notify(
        uow,
        user_id=order.user_id,
        type="order.refunded",
        title=f"Order {order.number} was refunded",
        body=f"{amount} {order.currency}",
        data={"order_id": order.id, "number": order.number, "amount": amount},
    )


async def _share_out(
    uow: UnitOfWork, order: Order, *, amount: int, refund_ref: str, now: datetime
) -> None:
    """Spread a refund over the items in order, each up to what is left of it, and take back
    what each part bought."""
    left = amount
    for item in await states.items_of(uow, order.id):
        share = min(left, item.amount - item.refunded_amount)
        if share <= 0:
            continue
        left -= share
        item.refunded_amount += share
        await fulfilment.take_back(uow, order, item, amount=share, refund_ref=refund_ref, now=now)


async def fail_refund(
    uow: UnitOfWork, *, order_id: int, amount: int, now: datetime | None = None
) -> None:
    """The gateway refused the refund: the order returns to the state it was refunded from.
    Nothing happens when it is not refunding (a repeated failure)."""
    order = await states.lock_order(uow, order_id)
    if order.status != REFUNDING:
        return
    before = await uow.session.scalar(
        select(OrderEvent.from_status)
        .where(OrderEvent.order_id == order.id, OrderEvent.to_status == REFUNDING)
        .order_by(OrderEvent.id.desc())
        .limit(1)
    )
    order.refund_pending = 0
    back = before or (states.FULFILLED if order.fulfilled_at else states.PAID)
    await states.move(uow, order, back, now=now or utcnow(), reason="refund failed")
    if back == states.PAID:
        # Its delivery was called off by the refund: it is owed again.
        fulfilment.queue_delivery(uow, order)
