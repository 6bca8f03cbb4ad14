"""Reads of subscriptions and their history."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from models.commerce.catalog import Product
from models.commerce.subscriptions import Subscription, SubscriptionEvent
from server.commerce.subscriptions.schemas import SubscriptionEventOut, SubscriptionOut
from server.commerce.subscriptions.service import SubscriptionNotFound
from server.db import Reader
from server.http.pagination import InvalidCursor, Page, decode_cursor, page_of

_COLUMNS = (
    Subscription.id,
    Subscription.product_id,
    Product.title.label("plan_title"),
    Product.interval,
    Subscription.status,
    Subscription.current_period_start,
    Subscription.current_period_end,
    Subscription.trial_ends_at,
    Subscription.cancel_at_period_end,
    Subscription.renew_with,
    Subscription.grace_until,
    Subscription.retry_count,
    Subscription.next_retry_at,
    Subscription.last_order_id,
    Subscription.created_at,
    Subscription.ended_at,
)


def _out(row: Any) -> SubscriptionOut:
    return SubscriptionOut.model_validate(dict(row._mapping))


def _before(cursor: str | None) -> int | None:
    position = decode_cursor(cursor)
    if position is None:
        return None
    before = position.get("id")
    if type(before) is not int or not 0 < before < 2**63:
        raise InvalidCursor()
    return before


async def list_mine(
    reader: Reader, *, user_id: int, limit: int, cursor: str | None
) -> Page[SubscriptionOut]:
    """The user's subscriptions, newest first; one query a page."""
    query = (
        select(*_COLUMNS)
        .join(Product, Product.id == Subscription.product_id)
        .where(Subscription.user_id == user_id)
    )
    before = _before(cursor)
    if before is not None:
        query = query.where(Subscription.id < before)
    rows = (await reader.execute(query.order_by(Subscription.id.desc()).limit(limit + 1))).all()
    return page_of([_out(row) for row in rows], limit, lambda item: {"id": item.id})


async def one(reader: Reader, *, user_id: int, subscription_id: int) -> SubscriptionOut:
    """One of the user's subscriptions; 404 for anybody else's."""
    row = (
        await reader.execute(
            select(*_COLUMNS)
            .join(Product, Product.id == Subscription.product_id)
            .where(Subscription.id == subscription_id, Subscription.user_id == user_id)
        )
    ).one_or_none()
    if row is None:
        raise SubscriptionNotFound()
    return _out(row)


async def history(
    reader: Reader, *, user_id: int, subscription_id: int, limit: int, cursor: str | None
) -> Page[SubscriptionEventOut]:
    """A subscription's history, newest first; 404 for anybody else's."""
    owner = await reader.scalar(
        select(Subscription.user_id).where(Subscription.id == subscription_id)
    )
    if owner != user_id:
        raise SubscriptionNotFound()
    query = select(
        SubscriptionEvent.id,
        SubscriptionEvent.kind,
        SubscriptionEvent.from_status,
        SubscriptionEvent.to_status,
        SubscriptionEvent.period_end,
        SubscriptionEvent.detail,
        SubscriptionEvent.created_at,
    ).where(SubscriptionEvent.subscription_id == subscription_id)
    before = _before(cursor)
    if before is not None:
        query = query.where(SubscriptionEvent.id < before)
    rows = (
        await reader.execute(query.order_by(SubscriptionEvent.id.desc()).limit(limit + 1))
    ).all()
    items = [SubscriptionEventOut.model_validate(dict(row._mapping)) for row in rows]
    return page_of(items, limit, lambda item: {"id": item.id})
