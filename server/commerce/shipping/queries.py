"""Reading shipments: an order's, a seller's to send, every one for admins, one for its buyer or
seller."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.commerce.orders import OrderItem
from models.commerce.shipping import Shipment, ShipmentItem
from server.commerce.shipping.errors import ShipmentNotFound
from server.commerce.shipping.schemas import ShipmentItemOut, ShipmentOut
from server.commerce.shipping.service import addresses_of
from server.http.pagination import Page, id_before, page_of

_FIELDS = tuple(
    name for name in ShipmentOut.model_fields if name not in ("items", "shipping_address")
)


async def _out(session: AsyncSession, shipments: list[Shipment]) -> list[ShipmentOut]:
    """The shipments with their lines and their orders' addresses (three queries in all)."""
    if not shipments:
        return []
    rows = await session.execute(
        select(
            ShipmentItem.shipment_id,
            OrderItem.id,
            OrderItem.product_id,
            OrderItem.title,
            OrderItem.quantity,
        )
        .join(OrderItem, OrderItem.id == ShipmentItem.order_item_id)
        .where(ShipmentItem.shipment_id.in_([shipment.id for shipment in shipments]))
        .order_by(OrderItem.id)
    )
    items: dict[int, list[ShipmentItemOut]] = defaultdict(list)
    for shipment_id, item_id, product_id, title, quantity in rows.all():
        items[shipment_id].append(
            ShipmentItemOut(
                order_item_id=item_id, product_id=product_id, title=title, quantity=quantity
            )
        )
    addresses = await addresses_of(session, sorted({shipment.order_id for shipment in shipments}))
    return [
        ShipmentOut.model_construct(
            **{name: getattr(shipment, name) for name in _FIELDS},
            items=items[shipment.id],
            shipping_address=addresses.get(shipment.order_id),
        )
        for shipment in shipments
    ]


async def of_order(session: AsyncSession, *, order_id: int) -> list[ShipmentOut]:
    """An order's shipments, oldest first (the caller has checked who may see the order)."""
    rows = await session.scalars(
        select(Shipment).where(Shipment.order_id == order_id).order_by(Shipment.id)
    )
    return await _out(session, list(rows.all()))


async def list_shipments(
    session: AsyncSession,
    *,
    seller_id: int | None,
    everyone: bool,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> Page[ShipmentOut]:
    """Newest first: one seller's shipments (`seller_id`; None: the platform's), or with
    `everyone` all of them; optionally in one status."""
    query = select(Shipment)
    if not everyone:
        query = query.where(
            Shipment.seller_id.is_(None) if seller_id is None else Shipment.seller_id == seller_id
        )
    if status is not None:
        query = query.where(Shipment.status == status)
    before = id_before(cursor)
    if before is not None:
        query = query.where(Shipment.id < before)
    query = query.order_by(Shipment.id.desc()).limit(limit + 1)
    found = await _out(session, list((await session.scalars(query)).all()))
    return page_of(found, limit, lambda shipment: {"id": shipment.id})


async def one(
    session: AsyncSession, *, shipment_id: int, viewer_id: int, admin: bool
) -> ShipmentOut:
    """A shipment for its buyer, its seller or an admin; ShipmentNotFound for anyone else."""
    shipment = await session.get(Shipment, shipment_id)
    if shipment is None or not (admin or viewer_id in (shipment.buyer_id, shipment.seller_id)):
        raise ShipmentNotFound()
    return (await _out(session, [shipment]))[0]
