"""Invoice requests and receipts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import TABLE_OPTIONS, Base, BigId, IdMixin, UTCDateTime, utcnow

INVOICE_STATUSES = ("pending", "issued", "failed")
INVOICE_TITLE_TYPES = ("personal", "company")
RECEIPT_STATUSES = ("pending", "ready")


class InvoiceRequest(IdMixin, Base):
    """A buyer's request for an e-invoice (发票) of a paid order, issued by the provider in a job.
    The email is encrypted (personal data). `order_id` has no foreign key: orders come later."""

    __tablename__ = "invoice_requests"
    __table_args__ = (
        Index("ix_invoice_requests_user_id_id", "user_id", "id"),
        # The recovery sweep's: requests still pending (server/commerce/invoices/recovery.py).
        Index("ix_invoice_requests_status_updated_at", "status", "updated_at"),
        TABLE_OPTIONS,
    )

    order_id: Mapped[int] = mapped_column(BigId, nullable=False, unique=True)
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    title_type: Mapped[str] = mapped_column(String(16), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    tax_number: Mapped[str | None] = mapped_column(String(32), nullable=True)
    email_encrypted: Mapped[str] = mapped_column(String(512), nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False, default="CNY")
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    # The provider's invoice number and our copy of its PDF.
    invoice_number: Mapped[str | None] = mapped_column(String(64), nullable=True)
    storage_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(String(255), nullable=True)
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class Receipt(IdMixin, Base):
    """Our own PDF receipt of an order, made by a job. `order_id` has no foreign key."""

    __tablename__ = "receipts"
    __table_args__ = (
        Index("ix_receipts_user_id", "user_id"),
        # The recovery sweep's: receipts still pending; the table grows with every order.
        Index("ix_receipts_status_created_at", "status", "created_at"),
        TABLE_OPTIONS,
    )

    order_id: Mapped[int] = mapped_column(BigId, nullable=False, unique=True)
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    storage_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    ready_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
