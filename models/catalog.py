"""Catalog: products, carts, coupons, reviews, invoices and receipts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import TABLE_OPTIONS, Base, BigId, IdMixin, Json, UTCDateTime, utcnow

PRODUCT_KINDS = ("content", "course", "plan", "credits", "physical")
PRODUCT_STATUSES = ("draft", "active", "archived")
PLAN_INTERVALS = ("month", "year")
COUPON_KINDS = ("fixed", "percent")
COUPON_STATUSES = ("active", "disabled")
REDEMPTION_STATUSES = ("redeemed", "released")
INVOICE_STATUSES = ("pending", "issued", "failed")
INVOICE_TITLE_TYPES = ("personal", "company")
RECEIPT_STATUSES = ("pending", "ready")


class Product(IdMixin, Base):
    """Something for sale. `creator_id` NULL is a platform product. Prices are integer 分."""

    __tablename__ = "products"
    __table_args__ = (
        Index("ix_products_status_id", "status", "id"),
        Index("ix_products_creator_id_id", "creator_id", "id"),
        Index("ix_products_category_id", "category_id"),
        Index("ix_products_content_id", "content_id"),
        TABLE_OPTIONS,
    )

    creator_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=True
    )
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    cover_url: Mapped[str | None] = mapped_column(String(500), nullable=True)
    category_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("categories.id", ondelete="SET NULL"), nullable=True
    )
    price: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False, default="CNY")
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="draft")
    # The content item or course sold (kinds content and course).
    content_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("contents.id", ondelete="SET NULL"), nullable=True
    )
    # Credits a credit pack adds to the wallet.
    credits: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # Billing period of a plan.
    interval: Mapped[str | None] = mapped_column(String(8), nullable=True)
    trial_days: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    # Physical goods only; NULL means unlimited.
    stock: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Kept exact in the transaction that adds, edits or deletes a review.
    rating_count: Mapped[int] = mapped_column(
        Integer, nullable=False, default=0, server_default="0"
    )
    rating_sum: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class Cart(IdMixin, Base):
    """A user's one cart."""

    __tablename__ = "carts"

    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, unique=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class CartItem(IdMixin, Base):
    """A product in a cart; adding it again adds to the quantity."""

    __tablename__ = "cart_items"
    __table_args__ = (
        UniqueConstraint("cart_id", "product_id"),
        Index("ix_cart_items_product_id", "product_id"),
        TABLE_OPTIONS,
    )

    cart_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("carts.id", ondelete="CASCADE"), nullable=False
    )
    product_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("products.id", ondelete="CASCADE"), nullable=False
    )
    quantity: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


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


class Review(IdMixin, Base):
    """A buyer's review of a product, one per order item. `images` lists the author's media ids.
    `order_item_id` has no foreign key: order items come in a later revision."""

    __tablename__ = "reviews"
    __table_args__ = (
        Index("ix_reviews_product_id_id", "product_id", "id"),
        Index("ix_reviews_user_id", "user_id"),
        TABLE_OPTIONS,
    )

    product_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("products.id", ondelete="CASCADE"), nullable=False
    )
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    order_item_id: Mapped[int] = mapped_column(BigId, nullable=False, unique=True)
    rating: Mapped[int] = mapped_column(Integer, nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False, default="")
    images: Mapped[list[Any]] = mapped_column(Json, nullable=False, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class InvoiceRequest(IdMixin, Base):
    """A buyer's request for an e-invoice (发票) of a paid order, issued by the provider in a job.
    The email is encrypted (personal data). `order_id` has no foreign key: orders come later."""

    __tablename__ = "invoice_requests"
    __table_args__ = (
        Index("ix_invoice_requests_user_id_id", "user_id", "id"),
        # The recovery sweep's: requests still pending (server/invoices/recovery.py).
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
