"""Creator applications with real-name verification."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import TABLE_OPTIONS, Base, BigId, IdMixin, Json, UTCDateTime, utcnow

APPLICATION_STATUSES = ("pending", "approved", "rejected")


class CreatorApplication(IdMixin, Base):
    """A request to become a creator; real name and ID number encrypted, the ID also hashed."""

    __tablename__ = "creator_applications"
    __table_args__ = (
        Index("ix_creator_applications_user_id", "user_id"),
        Index("ix_creator_applications_status_id", "status", "id"),
        Index("ix_creator_applications_id_number_hash", "id_number_hash"),
        TABLE_OPTIONS,
    )

    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    real_name_enc: Mapped[str | None] = mapped_column(String(255), nullable=True)
    id_number_enc: Mapped[str | None] = mapped_column(String(255), nullable=True)
    id_number_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # What the applicant says they will publish, and links to their work.
    pitch: Mapped[str] = mapped_column(Text, nullable=False)
    links: Mapped[list[str]] = mapped_column(Json, nullable=False)
    # The identity provider's verdict (no personal data: a reference and an outcome).
    verification: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False)
    reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    reviewed_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"), nullable=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
