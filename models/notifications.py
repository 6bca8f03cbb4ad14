"""Notifications: one table for every domain's notices to a user."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import TABLE_OPTIONS, Base, BigId, IdMixin, Json, UTCDateTime, utcnow


class Notification(IdMixin, Base):
    """A notice to one user (`type` like `system.welcome`), unread until `read_at` is set."""

    __tablename__ = "notifications"
    __table_args__ = (
        # The list: WHERE user_id = ? [AND id < ?] ORDER BY id DESC, read backwards, no filesort.
        Index("ix_notifications_user_id_id", "user_id", "id"),
        # The unread count and unread_only list (InnoDB appends the primary key: ordered by id).
        Index("ix_notifications_user_id_read_at", "user_id", "read_at"),
        TABLE_OPTIONS,
    )

    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"), nullable=False)
    type: Mapped[str] = mapped_column(String(64), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    data: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False)
    # No foreign key: a notice outlives the account that caused it.
    actor_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
