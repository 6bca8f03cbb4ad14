"""Exports of a user's own data."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import TABLE_OPTIONS, Base, BigId, IdMixin, UTCDateTime, utcnow

EXPORT_STATUSES = ("pending", "running", "ready", "failed", "expired")


class DataExport(IdMixin, Base):
    """An archive of everything a user owns, built by a job and downloaded by signed URL."""

    __tablename__ = "data_exports"
    __table_args__ = (
        Index("ix_data_exports_user_id", "user_id"),
        # The recovery sweep's: unfinished exports (server/privacy/accounts/recovery.py).
        Index("ix_data_exports_status_created_at", "status", "created_at"),
        TABLE_OPTIONS,
    )

    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    progress: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    storage_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    size_bytes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
