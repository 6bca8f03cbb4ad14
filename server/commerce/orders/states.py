"""The order state machine: the one table of legal transitions, and the one function that moves
an order (history row, `order.updated` to the buyer)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from models.commerce.orders import Order, OrderEvent, OrderItem
from server.commerce.orders.errors import IllegalTransition, OrderNotFound
from server.db import UnitOfWork

PENDING = "pending_payment"
PAID = "paid"
FULFILLED = "fulfilled"
CANCELLED = "cancelled"
REFUNDING = "refunding"
REFUNDED = "refunded"
PARTIALLY_REFUNDED = "partially_refunded"

# from -> the states it may move to. A cancelled order comes back to `paid` when its payment
# arrives after the timeout (revived); a failed refund returns `refunding` to where it started.
TRANSITIONS: dict[str, frozenset[str]] = {
    PENDING: frozenset({PAID, CANCELLED}),
    PAID: frozenset({FULFILLED, REFUNDING}),
    FULFILLED: frozenset({REFUNDING}),
    CANCELLED: frozenset({PAID}),
    REFUNDING: frozenset({REFUNDED, PARTIALLY_REFUNDED, PAID, FULFILLED}),
    PARTIALLY_REFUNDED: frozenset({REFUNDING}),
    REFUNDED: frozenset(),
}
# States in which the buyer has paid and a refund may begin.
REFUNDABLE = frozenset({PAID, FULFILLED, PARTIALLY_REFUNDED})


async def lock_order(uow: UnitOfWork, order_id: int) -> Order:
    """The order, locked for update and freshly read; OrderNotFound when there is none."""
    order = (
        await uow.session.scalars(
            select(Order)
            .where(Order.id == order_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).one_or_none()
    if order is None:
        raise OrderNotFound()
    return order


async def items_of(uow: UnitOfWork, order_id: int) -> list[OrderItem]:
    """The order's lines, in order, freshly read."""
    rows = await uow.session.scalars(
        select(OrderItem)
        .where(OrderItem.order_id == order_id)
        .order_by(OrderItem.id)
        .execution_options(populate_existing=True)
    )
    return list(rows.all())


def can_move(from_status: str, to_status: str) -> bool:
    return to_status in TRANSITIONS.get(from_status, frozenset())


def check(order: Order, to_status: str) -> None:
    if not can_move(order.status, to_status):
        raise IllegalTransition(f"An order that is {order.status} cannot become {to_status}.")


def order_data(order: Order) -> dict[str, Any]:
    """What `order.updated` carries to the buyer."""
    return {
        "id": order.id,
        "number": order.number,
        "status": order.status,
        "kind": order.kind,
        "currency": order.currency,
        "total": order.total,
        "refunded_amount": order.refunded_amount,
        "paid_at": order.paid_at.isoformat() if order.paid_at else None,
        "updated_at": order.updated_at.isoformat(),
    }


async def move(
    uow: UnitOfWork,
    order: Order,
    to_status: str,
    *,
    now: datetime,
    reason: str | None = None,
    actor_id: int | None = None,
) -> None:
    """Change the (locked) order's status if the machine allows it, else IllegalTransition."""
    check(order, to_status)
    from_status = order.status
    order.status = to_status
    order.updated_at = now
    uow.session.add(
        OrderEvent(
            order_id=order.id,
            from_status=from_status,
            to_status=to_status,
            reason=reason[:255] if reason else None,
            actor_id=actor_id,
            created_at=now,
        )
    )
    await uow.session.flush()
    uow.outbox.publish("order.updated", order_data(order), user_id=order.user_id)
