"""Creator earnings and withdrawals."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import TABLE_OPTIONS, Base, BigId, IdMixin, UTCDateTime, utcnow

EARNING_STATUSES = ("pending", "available", "reversed")
WITHDRAWAL_CHANNELS = ("alipay", "wechat")
WITHDRAWAL_STATUSES = ("requested", "approved", "rejected", "paying", "paid", "failed")


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
