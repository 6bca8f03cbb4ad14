"""Community topics, their members and posts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from models.base import TABLE_OPTIONS, Base, BigId, IdMixin, UTCDateTime, utcnow
from models.social.comments import COMMENT_STATUSES

POST_STATUSES = COMMENT_STATUSES


class Topic(IdMixin, Base):
    """A community topic (话题); its creator moderates it with the platform's moderators."""

    __tablename__ = "topics"
    __table_args__ = (TABLE_OPTIONS,)

    name: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    slug: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    description: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    creator_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    post_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    member_count: Mapped[int] = mapped_column(
        Integer, nullable=False, default=0, server_default="0"
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class TopicMember(Base):
    """One person joined one topic (once); the topic's `member_count` counts them."""

    __tablename__ = "topic_members"
    __table_args__ = (
        Index("ix_topic_members_user_id_created_at", "user_id", "created_at"),
        TABLE_OPTIONS,
    )

    topic_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("topics.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class Post(IdMixin, Base):
    """A community post in a topic; replies are comments with target_type `post`. A locked post
    takes no new replies. `hot_score` is its reply count (kept apart so the hot sort has an
    index of its own to walk)."""

    __tablename__ = "posts"
    __table_args__ = (
        Index("ix_posts_topic_new", "topic_id", "status", "pinned", "id"),
        Index("ix_posts_topic_hot", "topic_id", "status", "pinned", "hot_score", "id"),
        Index("ix_posts_author_id_id", "author_id", "id"),
        TABLE_OPTIONS,
    )

    topic_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("topics.id", ondelete="CASCADE"), nullable=False
    )
    author_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    pinned: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    locked: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="visible")
    reply_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    hot_score: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
