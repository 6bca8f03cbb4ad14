"""Moderation: reports people file against content, comments, messages, users and posts, and the
flags keyword screening records automatically."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import TABLE_OPTIONS, Base, BigId, IdMixin, Json, UTCDateTime, utcnow

REPORT_TARGETS = ("content", "comment", "message", "user", "post")
REPORT_REASONS = (
    "spam",
    "scam",
    "abuse",
    "sexual",
    "violence",
    "illegal",
    "copyright",
    "privacy",
    "other",
)
REPORT_STATUSES = ("open", "resolved", "dismissed")


class ModerationReport(IdMixin, Base):
    """One person's report about one thing. `is_open` is true while open and NULL afterwards:
    the unique key then allows one open report per reporter and target (NULLs never collide),
    and any number of closed ones."""

    __tablename__ = "moderation_reports"
    __table_args__ = (
        UniqueConstraint(
            "reporter_id", "target_type", "target_id", "is_open", name="uq_moderation_reports_open"
        ),
        Index("ix_moderation_reports_status_id", "status", "id"),
        Index("ix_moderation_reports_target", "target_type", "target_id", "status"),
        TABLE_OPTIONS,
    )

    reporter_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    target_type: Mapped[str] = mapped_column(String(16), nullable=False)
    target_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    reason: Mapped[str] = mapped_column(String(16), nullable=False)
    detail: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="open")
    is_open: Mapped[bool | None] = mapped_column(Boolean, nullable=True, default=True)
    resolved_by: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    resolution_note: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class ModerationFlag(IdMixin, Base):
    """What keyword screening found in one submission: the categories and the fields, never the
    words themselves."""

    __tablename__ = "moderation_flags"
    __table_args__ = (
        Index("ix_moderation_flags_target", "target_type", "target_id", "id"),
        TABLE_OPTIONS,
    )

    target_type: Mapped[str] = mapped_column(String(16), nullable=False)
    target_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    categories: Mapped[list[str]] = mapped_column(Json, nullable=False)
    fields: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False)
    terms_count: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
