"""Likes and favorites of content, and favorite collections."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from models.base import TABLE_OPTIONS, Base, BigId, IdMixin, UTCDateTime, utcnow


class ContentLike(Base):
    """One person likes one content item (once); the total is `content_counters.likes`."""

    __tablename__ = "content_likes"
    __table_args__ = (
        Index("ix_content_likes_user_id_created_at", "user_id", "created_at"),
        TABLE_OPTIONS,
    )

    content_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("contents.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class FavoriteCollection(IdMixin, Base):
    """A named collection of favorites; public ones can be read by anyone, private ones only by
    their owner."""

    __tablename__ = "favorite_collections"
    __table_args__ = (
        UniqueConstraint("user_id", "name", name="uq_favorite_collections_user_id_name"),
        TABLE_OPTIONS,
    )

    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    is_public: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    item_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class Favorite(IdMixin, Base):
    """A content item in a collection (once per collection)."""

    __tablename__ = "favorites"
    __table_args__ = (
        UniqueConstraint(
            "collection_id", "content_id", name="uq_favorites_collection_id_content_id"
        ),
        Index("ix_favorites_collection_id_id", "collection_id", "id"),
        Index("ix_favorites_content_id", "content_id"),
        Index("ix_favorites_user_id_content_id", "user_id", "content_id"),
        TABLE_OPTIONS,
    )

    collection_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("favorite_collections.id", ondelete="CASCADE"), nullable=False
    )
    content_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("contents.id", ondelete="CASCADE"), nullable=False
    )
    # The collection's owner, so "has this person favorited the item" is one index read.
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
