"""Subscriptions and creator earnings and withdrawals."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import TABLE_OPTIONS, Base, BigId, IdMixin, Json, UTCDateTime, utcnow

SUBSCRIPTION_STATUSES = ("trialing", "active", "past_due", "cancelled", "expired")
# Statuses in which a subscription still counts as the user's one subscription to its plan.
LIVE_STATUSES = ("trialing", "active", "past_due")
RENEW_WITH = ("wallet", "order")
EARNING_STATUSES = ("pending", "available", "reversed")
WITHDRAWAL_CHANNELS = ("alipay", "wechat")
WITHDRAWAL_STATUSES = ("requested", "approved", "rejected", "paying", "paid", "failed")


class Subscription(IdMixin, Base):
    """A user's subscription to a plan product. `live_plan_id` holds the plan while the
    subscription is live and NULL after, so the unique key allows one live one per user+plan."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        UniqueConstraint("user_id", "live_plan_id"),
        Index("ix_subscriptions_user_id_id", "user_id", "id"),
        Index("ix_subscriptions_status_current_period_end", "status", "current_period_end"),
        Index("ix_subscriptions_product_id", "product_id"),
        TABLE_OPTIONS,
    )

    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"), nullable=False)
    product_id: Mapped[int] = mapped_column(BigId, ForeignKey("products.id"), nullable=False)
    live_plan_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    current_period_start: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    current_period_end: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    # Where paid periods count from: period n ends n intervals after it, in the business
    # timezone (the 31st renews on the last day of shorter months and on the 31st again after).
    period_anchor: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    # Set when the subscription began with a free trial (a user trials a plan once).
    trial_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # How many periods were granted; the entitlement of period n has source id "<id>:<n>".
    periods: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    cancel_at_period_end: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default="0"
    )
    renew_with: Mapped[str] = mapped_column(String(8), nullable=False, default="order")
    grace_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    retry_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    next_retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_order_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class SubscriptionEvent(IdMixin, Base):
    """History of one subscription. `reference` names what caused a period (an order item, a
    wallet charge) so the same cause never grants twice."""

    __tablename__ = "subscription_events"
    __table_args__ = (
        UniqueConstraint("reference"),
        Index("ix_subscription_events_subscription_id_id", "subscription_id", "id"),
        TABLE_OPTIONS,
    )

    subscription_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("subscriptions.id", ondelete="CASCADE"), nullable=False
    )
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    from_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_status: Mapped[str] = mapped_column(String(16), nullable=False)
    reference: Mapped[str | None] = mapped_column(String(64), nullable=True)
    period_end: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class Earning(IdMixin, Base):
    """A creator's share of one sold order item (or of one subscription period charged to the
    wallet, named by `reference`): pending until `available_at`, then available; `clawed_back`
    is what refunds took back from it."""

    __tablename__ = "earnings"
    __table_args__ = (
        UniqueConstraint("order_item_id"),
        UniqueConstraint("reference"),
        Index("ix_earnings_creator_id_id", "creator_id", "id"),
        Index("ix_earnings_status_available_at", "status", "available_at"),
        TABLE_OPTIONS,
    )

    # The sold order item; NULL for a wallet renewal, which `reference` names instead.
    order_item_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    order_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    reference: Mapped[str | None] = mapped_column(String(64), nullable=True)
    creator_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"), nullable=False)
    gross: Mapped[int] = mapped_column(BigInteger, nullable=False)
    fee: Mapped[int] = mapped_column(BigInteger, nullable=False)
    net: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # Refunded on the item so far (of gross), and the part of net taken back for it.
    refunded: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0, server_default="0")
    clawed_back: Mapped[int] = mapped_column(
        BigInteger, nullable=False, default=0, server_default="0"
    )
    currency: Mapped[str] = mapped_column(String(3), nullable=False, default="CNY")
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    available_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class Withdrawal(IdMixin, Base):
    """A creator's request to be paid out; the payee account is encrypted personal data."""

    __tablename__ = "withdrawals"
    __table_args__ = (
        Index("ix_withdrawals_creator_id_id", "creator_id", "id"),
        Index("ix_withdrawals_status_id", "status", "id"),
        TABLE_OPTIONS,
    )

    creator_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"), nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False, default="CNY")
    channel: Mapped[str] = mapped_column(String(8), nullable=False)
    payee_account_enc: Mapped[str] = mapped_column(String(512), nullable=False)
    payee_name_enc: Mapped[str | None] = mapped_column(String(512), nullable=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="requested")
    reviewer_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"), nullable=True)
    reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    payout_ref: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
