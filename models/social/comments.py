"""Comments on content and posts, and likes of comments."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from models.base import TABLE_OPTIONS, Base, BigId, IdMixin, UTCDateTime, utcnow

COMMENT_TARGETS = ("content", "post")
# pending: held by keyword screening for a moderator; hidden: a moderator hid it; deleted: its
# author deleted it (a tombstone: the body is gone from every answer, the replies stay).
COMMENT_STATUSES = ("visible", "pending", "hidden", "deleted")


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
