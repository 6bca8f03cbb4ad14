"""Reading orders: a buyer's list, any order for admins, one order with lines and history."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.commerce.orders import Order, OrderEvent, OrderItem
from server.commerce.orders.errors import OrderNotFound
from server.commerce.orders.schemas import OrderDetail, OrderEventOut, OrderItemOut, OrderOut
from server.commerce.shipping import queries as shipping
from server.commerce.shipping.service import addresses_of
from server.db import Reader
from server.http.pagination import InvalidCursor, Page, decode_cursor, page_of

_ORDER = tuple(getattr(Order, name) for name in OrderOut.model_fields)
_ITEM = tuple(getattr(OrderItem, name) for name in OrderItemOut.model_fields)
_EVENT = (OrderEvent.from_status, OrderEvent.to_status, OrderEvent.reason, OrderEvent.created_at)


def _order(row: Any) -> OrderOut:
    return OrderOut.model_construct(**row._mapping)


def _after(query: Select[Any], cursor: str | None) -> Select[Any]:
    position = decode_cursor(cursor)
    if position is None:
        return query
    before = position.get("id")
    if not isinstance(before, int) or isinstance(before, bool) or not 0 < before < 2**63:
        raise InvalidCursor()
    return query.where(Order.id < before)


async def list_orders(
    reader: Reader,
    *,
    user_id: int | None,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> Page[OrderOut]:
    """Newest first; one user's (buyers) or everyone's (admins), optionally in one status."""
    query = select(*_ORDER)
    if user_id is not None:
        query = query.where(Order.user_id == user_id)
    if status is not None:
        query = query.where(Order.status == status)
    query = _after(query, cursor).order_by(Order.id.desc()).limit(limit + 1)
    rows = [_order(row) for row in (await reader.execute(query)).all()]
    return page_of(rows, limit, lambda order: {"id": order.id})


async def order_detail(reader: AsyncSession, *, order_id: int, user_id: int | None) -> OrderDetail:
    """One order; with `user_id`, only if it is that user's (OrderNotFound otherwise)."""
    query = select(*_ORDER).where(Order.id == order_id)
    if user_id is not None:
        query = query.where(Order.user_id == user_id)
    row = (await reader.execute(query)).one_or_none()
    if row is None:
        raise OrderNotFound()
    items = await reader.execute(
        select(*_ITEM).where(OrderItem.order_id == order_id).order_by(OrderItem.id)
    )
    events = await reader.execute(
        select(*_EVENT).where(OrderEvent.order_id == order_id).order_by(OrderEvent.id)
    )
    return OrderDetail.model_construct(
        **row._mapping,
        items=[OrderItemOut.model_construct(**item._mapping) for item in items.all()],
        history=[OrderEventOut.model_construct(**event._mapping) for event in events.all()],
        shipping_address=(await addresses_of(reader, [order_id])).get(order_id),
        shipments=await shipping.of_order(reader, order_id=order_id),
    )
