"""Reviews of bought products."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import TABLE_OPTIONS, Base, BigId, IdMixin, Json, UTCDateTime, utcnow


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
