"""Second factors (TOTP and recovery codes), pending two-step sign-ins, and push devices."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import TABLE_OPTIONS, Base, BigId, IdMixin, Json, UTCDateTime, utcnow

PUSH_PROVIDERS = ("apns", "fcm", "jpush")
DEVICE_PLATFORMS = ("ios", "android", "web", "desktop")


class TotpSecret(Base):
    """A user's TOTP secret (encrypted); `enabled_at` is set once a first code proved it."""

    __tablename__ = "totp_secrets"
    __table_args__ = TABLE_OPTIONS

    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    secret_enc: Mapped[str] = mapped_column(String(255), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The time step of the last accepted code: a code is never accepted twice.
    last_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class RecoveryCode(IdMixin, Base):
    """A single-use recovery code (hashed) for when the authenticator is lost."""

    __tablename__ = "recovery_codes"
    __table_args__ = (Index("ix_recovery_codes_user_id", "user_id"), TABLE_OPTIONS)

    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    code_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class LoginChallenge(IdMixin, Base):
    """A sign-in whose first factor passed, waiting for its second (hashed token, short-lived)."""

    __tablename__ = "login_challenges"
    __table_args__ = (Index("ix_login_challenges_expires_at", "expires_at"), TABLE_OPTIONS)

    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    # Where the sign-in came from (device name, platform, IP, user agent), for the session.
    client: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Device(IdMixin, Base):
    """An app installation that can receive push notifications (APNs, FCM or JPush)."""

    __tablename__ = "devices"
    __table_args__ = (
        UniqueConstraint("provider", "push_token"),
        Index("ix_devices_user_id", "user_id"),
        TABLE_OPTIONS,
    )

    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    session_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("auth_sessions.id", ondelete="SET NULL"), nullable=True
    )
    platform: Mapped[str] = mapped_column(String(16), nullable=False)
    provider: Mapped[str] = mapped_column(String(8), nullable=False)
    push_token: Mapped[str] = mapped_column(String(255), nullable=False)
    name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    app_version: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
