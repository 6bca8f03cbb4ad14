"""One-time codes sent by email or SMS: sign-in, verifying an address, resetting a password."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import TABLE_OPTIONS, Base, BigId, IdMixin, UTCDateTime, utcnow

CODE_PURPOSES = ("login", "verify_email", "verify_phone", "reset_password", "register")
CODE_CHANNELS = ("email", "sms")


class VerificationCode(IdMixin, Base):
    """A code sent to a target (an email or a phone, kept only as a keyed hash), used once."""

    __tablename__ = "verification_codes"
    __table_args__ = (
        Index("ix_verification_codes_target", "target_hash", "purpose", "created_at"),
        Index("ix_verification_codes_expires_at", "expires_at"),
        TABLE_OPTIONS,
    )

    purpose: Mapped[str] = mapped_column(String(32), nullable=False)
    channel: Mapped[str] = mapped_column(String(8), nullable=False)
    target_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    # HMAC-SHA256 of the code under a server key, bound to the row's target hash and purpose
    # (server/identity/verification/codes.py); the code itself is never stored.
    code_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=True
    )
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
