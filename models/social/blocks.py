"""Blocks between users: a block stops messages, follows and mentions both ways."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import TABLE_OPTIONS, Base, BigId, IdMixin, UTCDateTime, utcnow


class UserBlock(IdMixin, Base):
    """`owner_id` blocked `blocked_id`: no messages, follows or replies between them."""

    __tablename__ = "user_blocks"
    __table_args__ = (
        UniqueConstraint("owner_id", "blocked_id"),
        Index("ix_user_blocks_owner_id_id", "owner_id", "id"),
        Index("ix_user_blocks_blocked_id", "blocked_id"),
        TABLE_OPTIONS,
    )

    owner_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    blocked_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
