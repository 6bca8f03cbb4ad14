"""System announcements."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from models.base import TABLE_OPTIONS, Base, IdMixin, Json, UTCDateTime, utcnow


class Announcement(IdMixin, Base):
    """A platform notice to everyone or a segment, fanned out in batches by user id.

    `segment`: `{"kind": "all"}`, `{"kind": "role", "role": "..."}`, `{"kind": "creators"}` or
    `{"kind": "users", "user_ids": [...]}`. `cursor` is the last user id handed a notice, so a
    fan-out resumes where it stopped. `status`: `sending` | `sent`.
    """

    __tablename__ = "announcements"
    __table_args__ = (
        # The recovery sweep's: fan-outs still sending (server/notify/announcements/recovery.py).
        Index("ix_announcements_status_updated_at", "status", "updated_at"),
        TABLE_OPTIONS,
    )

    title: Mapped[str] = mapped_column(String(200), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    segment: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False)
    status: Mapped[str] = mapped_column(String(8), nullable=False)
    sent_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    batches: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    cursor: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    # No foreign key: the record outlives the admin account.
    created_by: Mapped[int] = mapped_column(BigInteger, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
