"""The audit log of admin actions on other people's things."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import (
    TABLE_OPTIONS,
    Base,
    BigId,
    IdMixin,
    Json,
    UTCDateTime,
    utcnow,
)


class AdminLog(IdMixin, Base):
    """What an admin did to what, written in the same transaction as the action."""

    __tablename__ = "admin_logs"
    __table_args__ = (
        Index("ix_admin_logs_admin_id", "admin_id"),
        Index("ix_admin_logs_target", "target_type", "target_id"),
        Index("ix_admin_logs_created_at", "created_at"),
        TABLE_OPTIONS,
    )

    admin_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"), nullable=False)
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    target_type: Mapped[str] = mapped_column(String(32), nullable=False)
    target_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False)
    ip: Mapped[str | None] = mapped_column(String(45), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
