"""Catalog: the products creators sell."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import TABLE_OPTIONS, Base, BigId, IdMixin, UTCDateTime, utcnow

PRODUCT_KINDS = ("content", "course", "plan", "credits", "physical")
PRODUCT_STATUSES = ("draft", "active", "archived")
PLAN_INTERVALS = ("month", "year")


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
