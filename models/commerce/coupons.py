"""Coupons and their redemptions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import TABLE_OPTIONS, Base, BigId, IdMixin, UTCDateTime, utcnow

COUPON_KINDS = ("fixed", "percent")
COUPON_STATUSES = ("active", "disabled")
REDEMPTION_STATUSES = ("redeemed", "released")


class Coupon(IdMixin, Base):
    """A discount code. `creator_id` NULL is a platform coupon (applies to every product); a
    creator's coupon applies to that creator's products only. `value` is 分 for `fixed` and a
    percentage (1-100) for `percent`. `used_count` only moves under the row's lock."""

    __tablename__ = "coupons"
    __table_args__ = (Index("ix_coupons_creator_id_id", "creator_id", "id"), TABLE_OPTIONS)

    code: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    creator_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=True
    )
    kind: Mapped[str] = mapped_column(String(8), nullable=False)
    value: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # Upper bound of a percentage discount, in 分 (NULL: none).
    max_discount: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    currency: Mapped[str] = mapped_column(String(3), nullable=False, default="CNY")
    # The applicable subtotal must reach this many 分.
    min_amount: Mapped[int] = mapped_column(
        BigInteger, nullable=False, default=0, server_default="0"
    )
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    total_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    per_user_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    used_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="active")
    created_by: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class CouponRedemption(IdMixin, Base):
    """One use of a coupon by an order; a cancelled order releases it. `order_id` has no foreign
    key: orders come in a later revision."""

    __tablename__ = "coupon_redemptions"
    __table_args__ = (
        Index("ix_coupon_redemptions_coupon_id_user_id", "coupon_id", "user_id"),
        Index("ix_coupon_redemptions_order_id", "order_id"),
        TABLE_OPTIONS,
    )

    coupon_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("coupons.id", ondelete="CASCADE"), nullable=False
    )
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    order_id: Mapped[int] = mapped_column(BigId, nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="redeemed")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
