"""Orders and their items and history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import TABLE_OPTIONS, Base, BigId, IdMixin, UTCDateTime, utcnow

ORDER_STATUSES = (
    "pending_payment",
    "paid",
    "fulfilled",
    "cancelled",
    "refunding",
    "refunded",
    "partially_refunded",
)
ORDER_KINDS = ("purchase", "renewal")


class Order(IdMixin, Base):
    """One checkout. Amounts are integers in minor units of `currency`; `total` = `subtotal` -
    `discount`. `refund_pending` is the amount of the refund in flight while `refunding`."""

    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_number", "number", unique=True),
        Index("ix_orders_user_id_id", "user_id", "id"),
        Index("ix_orders_user_id_status_id", "user_id", "status", "id"),
        Index("ix_orders_status_id", "status", "id"),
        Index("ix_orders_status_expires_at", "status", "expires_at"),
        TABLE_OPTIONS,
    )

    # Public order number (date + random digits); ids stay internal.
    number: Mapped[str] = mapped_column(String(32), nullable=False)
    # Orders are kept when an account is erased (the account row is anonymised, never deleted).
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"), nullable=False)
    status: Mapped[str] = mapped_column(String(24), nullable=False, default="pending_payment")
    kind: Mapped[str] = mapped_column(String(16), nullable=False, default="purchase")
    currency: Mapped[str] = mapped_column(String(3), nullable=False, default="CNY")
    subtotal: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    discount: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    total: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    refunded_amount: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    refund_pending: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    coupon_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    # The subscription a renewal order renews (no foreign key: subscriptions come later).
    subscription_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    # The gateway that was paid (alipay, wechat, stripe, sandbox...), once paid.
    provider: Mapped[str | None] = mapped_column(String(32), nullable=True)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    fulfilled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # An unpaid order is cancelled at this time.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class OrderItem(IdMixin, Base):
    """One product line, priced at checkout: `amount` = `unit_price` * `quantity` less this
    line's share of the discount. The product's fulfilment facts (content, credits) are copied so
    a later product edit does not change what was bought."""

    __tablename__ = "order_items"
    __table_args__ = (
        Index("ix_order_items_order_id", "order_id"),
        Index("ix_order_items_product_id", "product_id"),
        TABLE_OPTIONS,
    )

    order_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False
    )
    # Products are archived, never deleted, once sold.
    product_id: Mapped[int] = mapped_column(BigId, ForeignKey("products.id"), nullable=False)
    creator_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    title: Mapped[str] = mapped_column(String(255), nullable=False)
    unit_price: Mapped[int] = mapped_column(BigInteger, nullable=False)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    refunded_amount: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    content_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    # Credits per unit for a credit pack.
    credits: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    fulfilled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class OrderEvent(IdMixin, Base):
    """One status change of an order (`from_status` NULL for its creation)."""

    __tablename__ = "order_events"
    __table_args__ = (Index("ix_order_events_order_id_id", "order_id", "id"), TABLE_OPTIONS)

    order_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False
    )
    from_status: Mapped[str | None] = mapped_column(String(24), nullable=True)
    to_status: Mapped[str] = mapped_column(String(24), nullable=False)
    reason: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # Who caused it (buyer, admin); NULL for the system (payment callback, timeout).
    actor_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
