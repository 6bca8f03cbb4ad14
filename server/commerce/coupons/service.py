"""Applying coupons to a purchase: quote a discount, redeem it with an order, release it.

`quote`, `redeem` and `release` run inside the orders domain's unit of work. Limits hold under
concurrency: `redeem` locks the coupon's row, re-reads the user's uses with a locking read and
only then counts the use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.base import utcnow
from models.commerce.coupons import Coupon, CouponRedemption
from server.commerce.catalog.service import Line
from server.commerce.coupons.errors import CouponInvalid

__all__ = ["CouponInvalid", "Discount", "discount_of", "quote", "redeem", "release"]


@dataclass(frozen=True, slots=True)
class Discount:
    """What a coupon takes off, and the products it applies to (for sharing it out)."""

    coupon_id: int
    amount: int
    product_ids: tuple[int, ...] = ()


def normalise_code(code: str) -> str:
    return code.strip().upper()


def check_window(coupon: Coupon, now: datetime) -> None:
    if coupon.status != "active":
        raise CouponInvalid("This coupon is disabled.")
    if coupon.starts_at is not None and now < coupon.starts_at:
        raise CouponInvalid("This coupon is not valid yet.")
    if coupon.ends_at is not None and now >= coupon.ends_at:
        raise CouponInvalid("This coupon has expired.")


def applicable(coupon: Coupon, lines: Sequence[Line]) -> list[Line]:
    """Lines the coupon covers: a creator's coupon only that creator's products."""
    return [
        line
        for line in lines
        if line.currency == coupon.currency
        and (coupon.creator_id is None or line.creator_id == coupon.creator_id)
    ]


def discount_of(coupon: Coupon, subtotal: int) -> int:
    """The discount on an applicable subtotal, never more than the subtotal."""
    if coupon.kind == "fixed":
        amount = coupon.value
    else:
        amount = subtotal * coupon.value // 100
        if coupon.max_discount is not None:
            amount = min(amount, coupon.max_discount)
    return max(0, min(amount, subtotal))


async def _uses_by(session: AsyncSession, *, coupon_id: int, user_id: int, lock: bool) -> int:
    query = select(CouponRedemption.id).where(
        CouponRedemption.coupon_id == coupon_id,
        CouponRedemption.user_id == user_id,
        CouponRedemption.status == "redeemed",
    )
    # A locking read sees the latest committed uses, not the transaction's snapshot.
    rows = (await session.execute(query.with_for_update() if lock else query)).all()
    return len(rows)


def check_limits(coupon: Coupon, uses_by_user: int) -> None:
    if coupon.total_limit is not None and coupon.used_count >= coupon.total_limit:
        raise CouponInvalid("This coupon has been used up.")
    if coupon.per_user_limit is not None and uses_by_user >= coupon.per_user_limit:
        raise CouponInvalid("You have used this coupon as often as it allows.")


async def quote(
    session: AsyncSession,
    *,
    user_id: int,
    code: str,
    lines: Sequence[Line],
    now: datetime | None = None,
) -> Discount:
    """What the coupon `code` takes off these lines for this user; CouponInvalid says why not."""
    coupon = (
        await session.scalars(select(Coupon).where(Coupon.code == normalise_code(code)))
    ).one_or_none()
    if coupon is None:
        raise CouponInvalid("No coupon has this code.")
    check_window(coupon, now or utcnow())
    covered = applicable(coupon, lines)
    if not covered:
        raise CouponInvalid("This coupon does not apply to these products.")
    subtotal = sum(line.amount for line in covered)
    if subtotal < coupon.min_amount:
        raise CouponInvalid(f"This coupon needs a subtotal of at least {coupon.min_amount} 分.")
    check_limits(coupon, await _uses_by(session, coupon_id=coupon.id, user_id=user_id, lock=False))
    return Discount(
        coupon_id=coupon.id,
        amount=discount_of(coupon, subtotal),
        product_ids=tuple(line.product_id for line in covered),
    )


async def redeem(
    session: AsyncSession,
    *,
    coupon_id: int,
    user_id: int,
    order_id: int,
    amount: int,
    now: datetime | None = None,
) -> None:
    """Count one use of the coupon by `order_id` (again for the same order: no-op)."""
    coupon = (
        await session.scalars(
            select(Coupon)
            .where(Coupon.id == coupon_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).one_or_none()
    if coupon is None:
        raise CouponInvalid("No such coupon.")
    already = await session.scalar(
        select(CouponRedemption.id).where(
            CouponRedemption.order_id == order_id,
            CouponRedemption.coupon_id == coupon_id,
            CouponRedemption.status == "redeemed",
        )
    )
    if already is not None:
        return
    when = now or utcnow()
    check_window(coupon, when)
    check_limits(coupon, await _uses_by(session, coupon_id=coupon_id, user_id=user_id, lock=True))
    coupon.used_count += 1
    coupon.updated_at = when
    session.add(
        CouponRedemption(
            coupon_id=coupon_id,
            user_id=user_id,
            order_id=order_id,
            amount=amount,
            status="redeemed",
            created_at=when,
        )
    )
    await session.flush()


async def release(session: AsyncSession, *, order_id: int, now: datetime | None = None) -> None:
    """Free the coupon use of a cancelled order (idempotent)."""
    uses = (
        await session.scalars(
            select(CouponRedemption)
            .where(CouponRedemption.order_id == order_id, CouponRedemption.status == "redeemed")
            .with_for_update()
        )
    ).all()
    for use in uses:
        use.status = "released"
        use.released_at = now or utcnow()
        await session.execute(
            update(Coupon)
            .where(Coupon.id == use.coupon_id, Coupon.used_count > 0)
            .values(used_count=Coupon.used_count - 1)
            .execution_options(synchronize_session=False)
        )
    await session.flush()
