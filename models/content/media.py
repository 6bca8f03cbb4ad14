"""Media: uploaded images, audio and video, the variants jobs make of them, and the item they
are attached to."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import TABLE_OPTIONS, Base, BigId, IdMixin, Json, UTCDateTime, utcnow

MEDIA_KINDS = ("image", "audio", "video")
MEDIA_STATUSES = ("uploaded", "processing", "ready", "failed")


class Media(IdMixin, Base):
    """One upload. `storage_key` is random (never the client's file name); `variants` maps a
    variant name (thumb, large, poster, rendition) to its storage key."""

    __tablename__ = "media"
    __table_args__ = (
        Index("ix_media_owner_id_id", "owner_id", "id"),
        Index("ix_media_content_id", "content_id"),
        # The recovery sweep's: uploads left unprocessed (server/content/media/recovery.py).
        Index("ix_media_status_updated_at", "status", "updated_at"),
        TABLE_OPTIONS,
    )

    owner_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    kind: Mapped[str] = mapped_column(String(8), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="uploaded")
    storage_key: Mapped[str] = mapped_column(String(255), nullable=False)
    content_type: Mapped[str] = mapped_column(String(100), nullable=False)
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # The client's file name, sanitised, for display only.
    original_name: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    duration_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    variants: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False, default=dict)
    # What processing learned besides the dimensions: audio tags, codecs.
    details: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False, default=dict)
    error: Mapped[str | None] = mapped_column(String(255), nullable=True)
    content_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("contents.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
