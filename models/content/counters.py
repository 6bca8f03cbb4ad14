"""Content counters: views, likes, favorites, comments, shares and the hot score, per item.

Increments land in Redis first and are moved here by a flush job every few seconds; the rows are
what readers see ("fast and eventually exact").
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Double, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import TABLE_OPTIONS, Base, BigId, UTCDateTime, utcnow
from models.content.items import Content

COUNTER_FIELDS = ("views", "likes", "favorites", "comments", "shares")
SHARE_CHANNELS = ("wechat", "weibo", "qq", "link", "other")


class ContentCounter(Base):
    """The totals of one item; `hot_score` is recomputed whenever they change and hourly."""

    __tablename__ = "content_counters"
    __table_args__ = (
        Index("ix_content_counters_hot_score_content_id", "hot_score", "content_id"),
        TABLE_OPTIONS,
    )

    content_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("contents.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    views: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0, server_default="0")
    likes: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0, server_default="0")
    favorites: Mapped[int] = mapped_column(
        BigInteger, nullable=False, default=0, server_default="0"
    )
    comments: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0, server_default="0")
    shares: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0, server_default="0")
    hot_score: Mapped[float] = mapped_column(Double, nullable=False, default=0, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class ContentShareChannel(Base):
    """Shares of one item through one channel (their sum is `ContentCounter.shares`)."""

    __tablename__ = "content_share_channels"
    __table_args__ = (TABLE_OPTIONS,)

    content_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("contents.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0, server_default="0")


class CounterFlush(Base):
    """A batch of increments already added to the totals: a batch applied twice (a crashed or
    concurrent flush) is recognised by its id and skipped. Purged after a day."""

    __tablename__ = "counter_flushes"
    __table_args__ = (Index("ix_counter_flushes_applied_at", "applied_at"), TABLE_OPTIONS)

    batch_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


# The featured list reads items newest featured first (the primary key breaks ties).
FEATURED_INDEX = Index("ix_contents_featured_at", Content.featured_at)
