"""Notifications: one table for every domain's notices to a user."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, text
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
        # The latest notification of a burst: WHERE user_id = ? AND group_key = ? ORDER BY id DESC.
        Index("ix_notifications_user_id_group_key", "user_id", "group_key"),
        # One notice per source (e.g. `announcement:3`) and user, however often a job runs.
        Index("uq_notifications_user_id_source", "user_id", "source", unique=True),
        # One row open for folding per key and user, however many first notices race to make it.
        Index("uq_notifications_user_id_fold_key", "user_id", "fold_key", unique=True),
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
    # Aggregation: a burst with the same key folds into one unread row; `count` distinct actors,
    # the latest first in `actor_ids` (a few), `updated_at` the last fold.
    group_key: Mapped[str | None] = mapped_column(String(128), nullable=True)
    count: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default=text("1"))
    actor_ids: Mapped[list[int] | None] = mapped_column(Json, nullable=True)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # What made it, when one source must notify a user once (`announcement:<id>`).
    source: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The `group_key` while the row is open for folding: set when it is made, cleared when it is
    # read or a later burst of the key starts a row of its own. NULLs do not collide.
    fold_key: Mapped[str | None] = mapped_column(String(128), nullable=True)
