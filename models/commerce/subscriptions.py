"""Subscriptions to creators' plans and their events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import TABLE_OPTIONS, Base, BigId, IdMixin, Json, UTCDateTime, utcnow

SUBSCRIPTION_STATUSES = ("trialing", "active", "past_due", "cancelled", "expired")
# Statuses in which a subscription still counts as the user's one subscription to its plan.
LIVE_STATUSES = ("trialing", "active", "past_due")
RENEW_WITH = ("wallet", "order")


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
