"""Shipping: the address an order of physical goods goes to, one shipment per seller per order,
its moves (`pending` -> `shipped` -> `delivered`, returns, cancellation), and what a shipment
means for a refund.

Every function takes the caller's unit of work, flushes and never commits. A move locks the
order row, then the shipment (the order of locks of fulfilment and refunds too), publishes
`shipment.updated` to the buyer (and the seller) and, when the goods arrive, marks the order
lines delivered.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.commerce.orders import Order, OrderItem
from models.commerce.shipping import OrderAddress, Shipment, ShipmentItem
from server.commerce.catalog import service as catalog
from server.commerce.shipping.errors import (
    AddressRequired,
    IllegalShipmentMove,
    RefundInProgress,
    ReturnRequired,
    ReturnWindowPassed,
    ShipmentNotFound,
)
from server.commerce.shipping.schemas import ShippingAddress
from server.db import UnitOfWork
from server.notify.notifications import service as notifications
from server.runtime import runtime_of

PHYSICAL = "physical"
ADDRESS_CONTEXT = "shipping.address"
EVENT = "shipment.updated"

PENDING = "pending"
SHIPPED = "shipped"
DELIVERED = "delivered"
RETURN_REQUESTED = "return_requested"
RETURNED = "returned"
CANCELLED = "cancelled"

# from -> the states it may move to. A refused return goes back to where it was.
TRANSITIONS: dict[str, frozenset[str]] = {
    PENDING: frozenset({SHIPPED, CANCELLED}),
    SHIPPED: frozenset({DELIVERED, RETURN_REQUESTED}),
    DELIVERED: frozenset({RETURN_REQUESTED}),
    RETURN_REQUESTED: frozenset({RETURNED, SHIPPED, DELIVERED}),
    RETURNED: frozenset(),
    CANCELLED: frozenset(),
}
# Goods out of the seller's hands: the buyer has them, or they are on their way.
WITH_THE_BUYER = frozenset({SHIPPED, DELIVERED, RETURN_REQUESTED})
# The order states in which nothing more may be sent.
REFUNDING, REFUNDED = "refunding", "refunded"


# --- The address -------------------------------------------------------------------------------


def check_address(kinds: list[str], address: ShippingAddress | None) -> None:
    """A buyer's checkout of lines of `kinds`: AddressRequired when one is physical and there
    is no address."""
    if PHYSICAL in kinds and address is None:
        raise AddressRequired()


async def keep_address(
    uow: UnitOfWork,
    *,
    order_id: int,
    kinds: list[str],
    address: ShippingAddress | None,
    now: datetime,
) -> None:
    """Keep the address of a new order whose lines are of `kinds` when one is physical; one for
    an order of no physical goods is ignored."""
    if PHYSICAL not in kinds or address is None:
        return
    pii = runtime_of(uow.session).pii
    sealed = pii.encrypt(address.model_dump_json(), context=ADDRESS_CONTEXT)
    uow.session.add(OrderAddress(order_id=order_id, sealed=sealed, created_at=now))
    await uow.session.flush()


async def addresses_of(session: AsyncSession, order_ids: list[int]) -> dict[int, ShippingAddress]:
    """The addresses of these orders (those that have one), by order id."""
    rows = await session.execute(
        select(OrderAddress.order_id, OrderAddress.sealed).where(
            OrderAddress.order_id.in_(order_ids)
        )
    )
    pii = runtime_of(session).pii
    return {
        order_id: ShippingAddress.model_validate_json(pii.decrypt(sealed, context=ADDRESS_CONTEXT))
        for order_id, sealed in rows.all()
    }


# --- Opening shipments -------------------------------------------------------------------------


def shipment_data(shipment: Shipment) -> dict[str, Any]:
    """What `shipment.updated` carries."""

    def when(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": shipment.id,
        "order_id": shipment.order_id,
        "seller_id": shipment.seller_id,
        "status": shipment.status,
        "carrier": shipment.carrier,
        "tracking_number": shipment.tracking_number,
        "shipped_at": when(shipment.shipped_at),
        "delivered_at": when(shipment.delivered_at),
        "updated_at": shipment.updated_at.isoformat(),
    }


def _publish(uow: UnitOfWork, shipment: Shipment) -> None:
    users = [shipment.buyer_id]
    if shipment.seller_id is not None and shipment.seller_id != shipment.buyer_id:
        users.append(shipment.seller_id)
    uow.outbox.publish(EVENT, shipment_data(shipment), user_ids=users)


async def open_shipments(
    uow: UnitOfWork, order: Order, items: list[OrderItem], *, now: datetime
) -> None:
    """Hand the physical lines of a paid (locked) order to their sellers: each line joins its
    seller's pending shipment of the order, opened if there is none. A line already in a
    shipment is left where it is, so a second delivery changes nothing."""
    lines = [item for item in items if item.kind == PHYSICAL and item.fulfilled_at is None]
    if not lines:
        return
    placed = set(
        (
            await uow.session.scalars(
                select(ShipmentItem.order_item_id).where(
                    ShipmentItem.order_item_id.in_([item.id for item in lines])
                )
            )
        ).all()
    )
    lines = [item for item in lines if item.id not in placed]
    if not lines:
        return
    pending = await uow.session.scalars(
        select(Shipment).where(Shipment.order_id == order.id, Shipment.status == PENDING)
    )
    by_seller = {shipment.seller_id: shipment for shipment in pending.all()}
    opened: list[Shipment] = []
    for item in lines:
        shipment = by_seller.get(item.creator_id)
        if shipment is None:
            shipment = Shipment(
                order_id=order.id,
                buyer_id=order.user_id,
                seller_id=item.creator_id,
                status=PENDING,
                created_at=now,
                updated_at=now,
            )
            uow.session.add(shipment)
            await uow.session.flush()
            by_seller[item.creator_id] = shipment
            opened.append(shipment)
        uow.session.add(ShipmentItem(shipment_id=shipment.id, order_item_id=item.id))
    await uow.session.flush()
    for shipment in opened:
        _publish(uow, shipment)


# --- Moves -------------------------------------------------------------------------------------


async def _lock_order(uow: UnitOfWork, order_id: int) -> Order:
    return (
        await uow.session.scalars(
            select(Order)
            .where(Order.id == order_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).one()


async def _lock_shipment(uow: UnitOfWork, shipment_id: int) -> tuple[Order, Shipment]:
    """The shipment's order and the shipment, locked in that order; ShipmentNotFound."""
    order_id = await uow.session.scalar(select(Shipment.order_id).where(Shipment.id == shipment_id))
    if order_id is None:
        raise ShipmentNotFound()
    order = await _lock_order(uow, order_id)
    shipment = (
        await uow.session.scalars(
            select(Shipment)
            .where(Shipment.id == shipment_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).one()
    return order, shipment


def _check(shipment: Shipment, to_status: str) -> None:
    if to_status not in TRANSITIONS[shipment.status]:
        raise IllegalShipmentMove(f"A {shipment.status} shipment cannot become {to_status}.")


async def _move(uow: UnitOfWork, shipment: Shipment, to_status: str, *, now: datetime) -> None:
    _check(shipment, to_status)
    shipment.status = to_status
    shipment.updated_at = now
    await uow.session.flush()
    _publish(uow, shipment)


def _seller_may(shipment: Shipment, *, actor_id: int, admin: bool) -> bool:
    """The seller acts on its shipments; admins act for the platform's."""
    if shipment.seller_id is None:
        return admin
    return shipment.seller_id == actor_id


async def _as_seller(
    uow: UnitOfWork, shipment_id: int, *, actor_id: int, admin: bool
) -> tuple[Order, Shipment]:
    order, shipment = await _lock_shipment(uow, shipment_id)
    if not _seller_may(shipment, actor_id=actor_id, admin=admin):
        raise ShipmentNotFound()
    return order, shipment


async def _as_buyer(uow: UnitOfWork, shipment_id: int, *, buyer_id: int) -> Shipment:
    _, shipment = await _lock_shipment(uow, shipment_id)
    if shipment.buyer_id != buyer_id:
        raise ShipmentNotFound()
    return shipment


async def ship(
    uow: UnitOfWork,
    *,
    shipment_id: int,
    actor_id: int,
    admin: bool,
    carrier: str,
    tracking_number: str,
    now: datetime,
) -> Shipment:
    """The seller sent the parcel: `pending` -> `shipped`, with its carrier and tracking
    number; the buyer is notified. Not while the order is being refunded or once refunded."""
    order, shipment = await _as_seller(uow, shipment_id, actor_id=actor_id, admin=admin)
    _check(shipment, SHIPPED)
    if order.status == REFUNDING:
        raise RefundInProgress()
    if order.status == REFUNDED:
        raise IllegalShipmentMove("The order was refunded: there is nothing to send.")
    shipment.carrier, shipment.tracking_number = carrier, tracking_number
    shipment.shipped_at = now
    await _move(uow, shipment, SHIPPED, now=now)
    await notifications.notify(
        uow,
        user_id=shipment.buyer_id,
        type="shipment.shipped",
        title=f"Order {order.number} has shipped",
        body=f"{carrier} {tracking_number}",
        data={
            "order_id": order.id,
            "number": order.number,
            "shipment_id": shipment.id,
            "carrier": carrier,
            "tracking_number": tracking_number,
        },
    )
    return shipment


async def _arrived(uow: UnitOfWork, shipment: Shipment, *, now: datetime) -> None:
    """`shipped` -> `delivered`: the shipment's order lines are delivered now."""
    _check(shipment, DELIVERED)
    shipment.delivered_at = now
    item_ids = select(ShipmentItem.order_item_id).where(ShipmentItem.shipment_id == shipment.id)
    await uow.session.execute(
        update(OrderItem)
        .where(OrderItem.id.in_(item_ids), OrderItem.fulfilled_at.is_(None))
        .values(fulfilled_at=now)
        .execution_options(synchronize_session=False)
    )
    await _move(uow, shipment, DELIVERED, now=now)


async def confirm(uow: UnitOfWork, *, shipment_id: int, buyer_id: int, now: datetime) -> Shipment:
    """The buyer has the goods."""
    shipment = await _as_buyer(uow, shipment_id, buyer_id=buyer_id)
    await _arrived(uow, shipment, now=now)
    return shipment


async def overdue(session: AsyncSession, *, now: datetime, days: int, limit: int) -> list[int]:
    """Ids of shipments shipped more than `days` ago and still not confirmed, oldest first."""
    rows = await session.scalars(
        select(Shipment.id)
        .where(Shipment.status == SHIPPED, Shipment.shipped_at <= now - timedelta(days=days))
        .order_by(Shipment.shipped_at)
        .limit(limit)
    )
    return list(rows.all())


async def auto_confirm(uow: UnitOfWork, *, shipment_id: int, now: datetime, days: int) -> bool:
    """Confirm a shipment the buyer left unconfirmed `days` after it shipped; anything else
    (confirmed, returned, shipped later) is left alone."""
    _, shipment = await _lock_shipment(uow, shipment_id)
    shipped_at = shipment.shipped_at
    if shipment.status != SHIPPED or shipped_at is None or shipped_at > now - timedelta(days=days):
        return False
    await _arrived(uow, shipment, now=now)
    return True


async def request_return(
    uow: UnitOfWork,
    *,
    shipment_id: int,
    buyer_id: int,
    reason: str,
    window_days: int,
    now: datetime,
) -> Shipment:
    """The buyer wants to send the goods back: on their way, or within `window_days` of their
    arrival (ReturnWindowPassed after)."""
    shipment = await _as_buyer(uow, shipment_id, buyer_id=buyer_id)
    _check(shipment, RETURN_REQUESTED)
    arrived = shipment.delivered_at
    if arrived is not None and now - arrived > timedelta(days=window_days):
        raise ReturnWindowPassed()
    shipment.return_reason = reason[:255]
    shipment.return_requested_at = now
    await _move(uow, shipment, RETURN_REQUESTED, now=now)
    return shipment


async def accept_return(
    uow: UnitOfWork, *, shipment_id: int, actor_id: int, admin: bool, now: datetime
) -> Shipment:
    """The seller takes the goods back: `returned`, and the order may be refunded."""
    _, shipment = await _as_seller(uow, shipment_id, actor_id=actor_id, admin=admin)
    _check(shipment, RETURNED)
    shipment.returned_at = now
    await _move(uow, shipment, RETURNED, now=now)
    await _restock(uow, shipment)
    return shipment


async def _restock(uow: UnitOfWork, shipment: Shipment) -> None:
    """The shipment's goods are back on the shelf (returned, or never sent): their stock is
    given back, in product order (the lock order of checkout)."""
    lines = await uow.session.execute(
        select(OrderItem.product_id, OrderItem.quantity)
        .join(ShipmentItem, ShipmentItem.order_item_id == OrderItem.id)
        .where(ShipmentItem.shipment_id == shipment.id)
        .order_by(OrderItem.product_id)
    )
    for product_id, quantity in lines.all():
        await catalog.release_stock(uow.session, product_id=product_id, quantity=quantity)


async def refuse_return(
    uow: UnitOfWork, *, shipment_id: int, actor_id: int, admin: bool, now: datetime
) -> Shipment:
    """The seller does not take the goods back: the shipment is where it was before."""
    _, shipment = await _as_seller(uow, shipment_id, actor_id=actor_id, admin=admin)
    _check(shipment, RETURNED)  # only a requested return is refused
    await _move(uow, shipment, DELIVERED if shipment.delivered_at else SHIPPED, now=now)
    return shipment


# --- Refunds -----------------------------------------------------------------------------------


async def refund_blocker(session: AsyncSession, order_id: int) -> str | None:
    """Why the buyer may not be refunded yet: `shipping.return_required` while any of the
    order's goods are shipped, delivered or asked back without the seller accepting; else None.
    Pending (not yet shipped), returned and cancelled shipments block nothing."""
    found = await session.scalar(
        select(Shipment.id)
        .where(Shipment.order_id == order_id, Shipment.status.in_(WITH_THE_BUYER))
        .limit(1)
    )
    return ReturnRequired.code if found is not None else None


async def refund_window_start(session: AsyncSession, order: Order) -> datetime | None:
    """When the buyer's refund window of the order opened: at payment, or again when the seller
    took goods back (None: never paid)."""
    returned = await session.scalar(
        select(func.max(Shipment.returned_at)).where(Shipment.order_id == order.id)
    )
    if order.paid_at is None or returned is None:
        return order.paid_at
    return max(order.paid_at, returned)


async def check_refund(
    uow: UnitOfWork, order: Order, *, amount: int, admin: bool, now: datetime
) -> None:
    """A refund of `amount` of the (locked) order is about to begin: refused (ReturnRequired)
    while goods are with the buyer, unless an admin asks; a refund of all that is left cancels
    the shipments not yet sent."""
    if not admin and await refund_blocker(uow.session, order.id) is not None:
        raise ReturnRequired()
    if amount < order.total - order.refunded_amount:
        return
    await cancel_unsent(uow, order, now=now)


async def cancel_unsent(uow: UnitOfWork, order: Order, *, now: datetime) -> None:
    """The (locked) order is refunded in full, or about to be: its shipments not yet sent are
    cancelled and their goods given back to stock. Nothing changes the second time."""
    pending = await uow.session.scalars(
        select(Shipment)
        .where(Shipment.order_id == order.id, Shipment.status == PENDING)
        .order_by(Shipment.id)
        .with_for_update()
    )
    for shipment in pending.all():
        shipment.cancelled_at = now
        await _move(uow, shipment, CANCELLED, now=now)
        await _restock(uow, shipment)
