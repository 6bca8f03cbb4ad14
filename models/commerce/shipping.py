"""Shipping of physical goods: the order's delivery address, one shipment per seller per order,
and the order lines each shipment carries."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import TABLE_OPTIONS, Base, BigId, IdMixin, UTCDateTime, utcnow

SHIPMENT_STATUSES = (
    "pending",
    "shipped",
    "delivered",
    "return_requested",
    "returned",
    "cancelled",
)


class OrderAddress(IdMixin, Base):
    """Where an order with physical goods goes: a snapshot taken at checkout. The address holds
    a name and a phone number, so it is kept as one AES-256-GCM ciphertext of its JSON
    (`server/crypto.py`, context `shipping.address`)."""

    __tablename__ = "order_addresses"
    __table_args__ = (Index("ix_order_addresses_order_id", "order_id", unique=True), TABLE_OPTIONS)

    order_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False
    )
    sealed: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class Shipment(IdMixin, Base):
    """What one seller (an order line's creator; NULL: the platform) sends for one order:
    `pending` -> `shipped` -> `delivered`; `shipped`/`delivered` -> `return_requested` ->
    `returned` (or back when the seller refuses the return); `pending` -> `cancelled` when the
    order is refunded in full before it ships."""

    __tablename__ = "shipments"
    __table_args__ = (
        Index("ix_shipments_order_id", "order_id"),
        Index("ix_shipments_seller_id_status_id", "seller_id", "status", "id"),
        Index("ix_shipments_status_shipped_at", "status", "shipped_at"),
        TABLE_OPTIONS,
    )

    order_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False
    )
    # The order's buyer, copied so that the buyer's checks need not read the order.
    buyer_id: Mapped[int] = mapped_column(BigId, nullable=False)
    seller_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    status: Mapped[str] = mapped_column(String(24), nullable=False, default="pending")
    carrier: Mapped[str | None] = mapped_column(String(64), nullable=True)
    tracking_number: Mapped[str | None] = mapped_column(String(64), nullable=True)
    return_reason: Mapped[str | None] = mapped_column(String(255), nullable=True)
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    return_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class ShipmentItem(IdMixin, Base):
    """An order line in a shipment; a line is in one shipment at most."""

    __tablename__ = "shipment_items"
    __table_args__ = (
        Index("ix_shipment_items_order_item_id", "order_item_id", unique=True),
        Index("ix_shipment_items_shipment_id", "shipment_id"),
        TABLE_OPTIONS,
    )

    shipment_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("shipments.id", ondelete="CASCADE"), nullable=False
    )
    order_item_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("order_items.id", ondelete="CASCADE"), nullable=False
    )
