"""Payments, provider events, refunds and reconciliation runs."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from models.base import TABLE_OPTIONS, Base, BigId, IdMixin, Json, UTCDateTime, utcnow

PROVIDERS = ("alipay", "wechat", "stripe", "sandbox")
# created: asked the gateway; succeeded: paid (exactly once); closed: superseded or expired.
PAYMENT_STATUSES = ("created", "succeeded", "failed", "closed")
# awaiting_payment: the gateway refunded (or a chargeback took) a payment whose "paid" event has
# not arrived; it applies with that event. unapplied: money the gateway gave back that the order
# could not take (reported to admins and by reconciliation). Only `succeeded` counts as refunded.
REFUND_STATUSES = (
    "pending",
    "processing",
    "succeeded",
    "failed",
    "awaiting_payment",
    "unapplied",
)
RUN_STATUSES = ("running", "matched", "mismatched", "failed")


class Payment(IdMixin, Base):
    """One attempt to pay an order at one gateway; `out_trade_no` is the number the gateway
    knows it by. `client` keeps what the buyer's client was given (QR link, client secret) so a
    repeated request answers the same."""

    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("out_trade_no", name="uq_payments_out_trade_no"),
        Index("ix_payments_order_id", "order_id"),
        Index("ix_payments_status_created_at", "status", "created_at"),
        Index("ix_payments_provider_provider_txn_id", "provider", "provider_txn_id"),
        TABLE_OPTIONS,
    )

    order_id: Mapped[int] = mapped_column(BigId, ForeignKey("orders.id"), nullable=False)
    user_id: Mapped[int] = mapped_column(BigId, nullable=False)
    provider: Mapped[str] = mapped_column(String(16), nullable=False)
    out_trade_no: Mapped[str] = mapped_column(String(64), nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False, default="CNY")
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="created")
    # The gateway's own transaction id (trade_no, transaction_id, PaymentIntent id).
    provider_txn_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    client: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False, default=dict)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    queried_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class PaymentEvent(IdMixin, Base):
    """One verified provider event (callback or query answer), kept raw. The unique
    (provider, event_id) makes each event change state at most once, however often it comes."""

    __tablename__ = "payment_events"
    __table_args__ = (
        UniqueConstraint("provider", "event_id", name="uq_payment_events_provider_event_id"),
        Index("ix_payment_events_order_id", "order_id"),
        TABLE_OPTIONS,
    )

    provider: Mapped[str] = mapped_column(String(16), nullable=False)
    event_id: Mapped[str] = mapped_column(String(128), nullable=False)
    # paid, refund.succeeded, refund.failed, dispute, closed, other.
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    order_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    payment_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    headers: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False, default=dict)
    verified: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    # What applying it did (paid, already, revived, refund_needed, ignored ...).
    outcome: Mapped[str | None] = mapped_column(String(32), nullable=True)
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class Refund(IdMixin, Base):
    """Money going back to a buyer through the gateway that took it."""

    __tablename__ = "refunds"
    __table_args__ = (
        UniqueConstraint("out_refund_no", name="uq_refunds_out_refund_no"),
        Index("ix_refunds_order_id", "order_id"),
        Index("ix_refunds_status_created_at", "status", "created_at"),
        TABLE_OPTIONS,
    )

    order_id: Mapped[int] = mapped_column(BigId, ForeignKey("orders.id"), nullable=False)
    payment_id: Mapped[int] = mapped_column(BigId, ForeignKey("payments.id"), nullable=False)
    # order: part of the order's refund (its state follows); unclaimed: money the order never
    # took (paid after cancellation, or paid twice) going back by itself.
    kind: Mapped[str] = mapped_column(String(16), nullable=False, default="order")
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False, default="CNY")
    reason: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    out_refund_no: Mapped[str] = mapped_column(String(64), nullable=False)
    provider_refund_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Who asked (buyer or admin); NULL for automatic refunds (paid after cancellation).
    requested_by: Mapped[int | None] = mapped_column(BigId, nullable=True)
    error: Mapped[str | None] = mapped_column(String(255), nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class ReconciliationRun(IdMixin, Base):
    """One provider's bill for one business day compared with our records."""

    __tablename__ = "reconciliation_runs"
    __table_args__ = (
        UniqueConstraint(
            "provider", "business_date", name="uq_reconciliation_runs_provider_business_date"
        ),
        TABLE_OPTIONS,
    )

    provider: Mapped[str] = mapped_column(String(16), nullable=False)
    business_date: Mapped[date] = mapped_column(Date, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="running")
    bill_rows: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    matched: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    mismatched: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    error: Mapped[str | None] = mapped_column(String(255), nullable=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ReconciliationMismatch(IdMixin, Base):
    """A line where the bill and our records disagree (`kind`: missing_here, missing_there,
    amount_differs)."""

    __tablename__ = "reconciliation_mismatches"
    __table_args__ = (Index("ix_reconciliation_mismatches_run_id", "run_id"), TABLE_OPTIONS)

    run_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("reconciliation_runs.id", ondelete="CASCADE"), nullable=False
    )
    kind: Mapped[str] = mapped_column(String(24), nullable=False)
    reference: Mapped[str] = mapped_column(String(64), nullable=False)
    ours: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    theirs: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
