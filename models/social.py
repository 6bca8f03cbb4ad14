"""Comments, likes, favorites, topics and posts.

Shares need no table here: `server.counters.record_share` counts them per channel
(`content_share_channels`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from models.base import TABLE_OPTIONS, Base, BigId, IdMixin, UTCDateTime, utcnow
from models.identity import User

COMMENT_TARGETS = ("content", "post")
# pending: held by keyword screening for a moderator; hidden: a moderator hid it; deleted: its
# author deleted it (a tombstone: the body is gone from every answer, the replies stay).
COMMENT_STATUSES = ("visible", "pending", "hidden", "deleted")
POST_STATUSES = COMMENT_STATUSES


class Comment(IdMixin, Base):
    """A comment on a content item or a community post. Roots have no `root_id`; every reply in
    a thread, however deep, points at the root (`root_id`) and at what it answers (`parent_id`).

    `hot_score` is `like_count + 2 * reply_count` (replies only count on roots), kept in the same
    statements as the counts so the hot sort walks an index.
    """

    __tablename__ = "comments"
    __table_args__ = (
        Index("ix_comments_target_new", "target_type", "target_id", "root_id", "id"),
        Index("ix_comments_target_hot", "target_type", "target_id", "root_id", "hot_score", "id"),
        Index("ix_comments_root_id_id", "root_id", "id"),
        Index("ix_comments_parent_id", "parent_id"),
        Index("ix_comments_author_id_id", "author_id", "id"),
        Index("ix_comments_status_id", "status", "id"),
        TABLE_OPTIONS,
    )

    target_type: Mapped[str] = mapped_column(String(8), nullable=False)
    target_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    author_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    parent_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("comments.id", ondelete="CASCADE"), nullable=True
    )
    root_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("comments.id", ondelete="CASCADE"), nullable=True
    )
    body: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="visible")
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    like_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    reply_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    hot_score: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class CommentLike(Base):
    """One person likes one comment (once)."""

    __tablename__ = "comment_likes"
    __table_args__ = (Index("ix_comment_likes_user_id", "user_id"), TABLE_OPTIONS)

    comment_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("comments.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


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


# @mentions resolve nicknames to accounts: one index read per name, not a scan of users.
NICKNAME_INDEX = Index("ix_users_nickname", User.nickname)
