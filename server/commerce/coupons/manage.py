"""Creators manage their own coupons, admins every coupon (their own are platform coupons)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models.commerce.coupons import Coupon
from server.commerce.catalog import service as catalog
from server.commerce.catalog.products import Actor
from server.commerce.catalog.queries import after_id
from server.commerce.coupons import service
from server.commerce.coupons.errors import CodeTaken, CouponInvalid, CouponNotFound
from server.commerce.coupons.schemas import (
    CouponCreate,
    CouponListQuery,
    CouponOut,
    CouponPatch,
    QuoteIn,
    QuoteOut,
)
from server.http.pagination import Page, page_of


def coupon_out(coupon: Coupon) -> CouponOut:
    return CouponOut.model_validate(coupon, from_attributes=True)


async def create(
    session: AsyncSession, *, actor: Actor, body: CouponCreate, now: datetime
) -> CouponOut:
    coupon = Coupon(
        **body.model_dump(),
        creator_id=actor.user_id if actor.is_creator else None,
        created_by=actor.user_id,
        status="active",
        used_count=0,
        created_at=now,
        updated_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(coupon)
    except IntegrityError as exc:
        raise CodeTaken() from exc
    return coupon_out(coupon)


async def _load_for_edit(session: AsyncSession, *, actor: Actor, coupon_id: int) -> Coupon:
    coupon = await session.get(Coupon, coupon_id, with_for_update=True)
    if coupon is None:
        raise CouponNotFound()
    if not actor.is_admin and coupon.creator_id != actor.user_id:
        # Others' coupons stay unknown to a creator (their codes are secrets).
        raise CouponNotFound()
    return coupon


async def update(
    session: AsyncSession, *, actor: Actor, coupon_id: int, body: CouponPatch, now: datetime
) -> CouponOut:
    coupon = await _load_for_edit(session, actor=actor, coupon_id=coupon_id)
    for name, value in body.model_dump(exclude_unset=True).items():
        if value is None and name == "status":
            raise CouponInvalid(fields={"status": "May not be null."})
        setattr(coupon, name, value)
    if coupon.starts_at and coupon.ends_at and coupon.ends_at <= coupon.starts_at:
        raise CouponInvalid(fields={"ends_at": "Must come after starts_at."})
    coupon.updated_at = now
    await session.flush()
    return coupon_out(coupon)


async def list_coupons(
    session: AsyncSession, *, actor: Actor, query: CouponListQuery
) -> Page[CouponOut]:
    """A creator's own coupons; an admin's view is every coupon. Newest first."""
    statement = select(Coupon)
    if not actor.is_admin:
        statement = statement.where(Coupon.creator_id == actor.user_id)
    if query.status is not None:
        statement = statement.where(Coupon.status == query.status)
    after = after_id(query.cursor)
    if after is not None:
        statement = statement.where(Coupon.id < after)
    rows = (
        await session.scalars(statement.order_by(Coupon.id.desc()).limit(query.limit + 1))
    ).all()
    return page_of([coupon_out(c) for c in rows], query.limit, lambda c: {"id": c.id})


async def preview(session: AsyncSession, *, user_id: int, body: QuoteIn, now: datetime) -> QuoteOut:
    """What a coupon would take off these products now (nothing is redeemed)."""
    lines = await catalog.lines_for_checkout(
        session, items=[(item.product_id, item.quantity) for item in body.items]
    )
    discount = await service.quote(session, user_id=user_id, code=body.code, lines=lines, now=now)
    subtotal = sum(line.amount for line in lines)
    return QuoteOut(
        coupon_id=discount.coupon_id,
        code=body.code,
        subtotal=subtotal,
        discount=discount.amount,
        total=subtotal - discount.amount,
        currency=lines[0].currency,
        product_ids=list(discount.product_ids),
    )
