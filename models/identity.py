"""Identity tables: users, their sign-in sessions and refresh tokens, and the admin audit log."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import (
    TABLE_OPTIONS,
    Base,
    BigId,
    IdMixin,
    Json,
    TimestampMixin,
    UTCDateTime,
    utcnow,
)

ROLES = ("reader", "creator", "moderator", "admin")
# deleted: personal data erased, the row kept so content and money records still point somewhere.
USER_STATUSES = ("active", "banned", "deactivated", "deleted")


class User(IdMixin, TimestampMixin, Base):
    """An account; signs in with an email or a phone number (and a password, a code or OAuth).

    The phone number is personal data: stored AES-GCM encrypted (`phone_enc`), found by a keyed
    hash (`phone_hash`) and shown masked (`phone_masked`, which is not secret).
    """

    __tablename__ = "users"

    email: Mapped[str | None] = mapped_column(String(254), nullable=True, unique=True)
    phone_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    phone_enc: Mapped[str | None] = mapped_column(String(255), nullable=True)
    phone_masked: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # NULL for accounts that have only ever signed in by OAuth or a code.
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    nickname: Mapped[str] = mapped_column(String(32), nullable=False)
    avatar_url: Mapped[str | None] = mapped_column(String(500), nullable=True)
    roles: Mapped[list[str]] = mapped_column(Json, nullable=False)
    status: Mapped[str] = mapped_column(
        String(16), nullable=False, default="active", server_default="active"
    )
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    phone_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    # Profile (ID4).
    bio: Mapped[str | None] = mapped_column(String(500), nullable=True)
    gender: Mapped[str | None] = mapped_column(String(16), nullable=True)
    birthday: Mapped[date | None] = mapped_column(Date, nullable=True)
    mbti: Mapped[str | None] = mapped_column(String(4), nullable=True)
    zodiac: Mapped[str | None] = mapped_column(String(16), nullable=True)
    preferences: Mapped[dict[str, Any] | None] = mapped_column(Json, nullable=True)
    privacy: Mapped[dict[str, Any] | None] = mapped_column(Json, nullable=True)

    # Follow graph counters, changed in the same transaction as the follow rows (ID8).
    follower_count: Mapped[int] = mapped_column(
        Integer, nullable=False, default=0, server_default="0"
    )
    following_count: Mapped[int] = mapped_column(
        Integer, nullable=False, default=0, server_default="0"
    )

    # Lifecycle (ID9).
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class AuthSession(IdMixin, Base):
    """One signed-in device; access tokens name it (`sid`) and die with it."""

    __tablename__ = "auth_sessions"
    __table_args__ = (Index("ix_auth_sessions_user_id", "user_id"), TABLE_OPTIONS)

    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"), nullable=False)
    device_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    platform: Mapped[str | None] = mapped_column(String(32), nullable=True)
    ip: Mapped[str | None] = mapped_column(String(45), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoke_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)


class RefreshToken(IdMixin, Base):
    """A refresh token, stored only as its SHA-256; each rotation links to the one it replaced."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (Index("ix_refresh_tokens_session_id", "session_id"), TABLE_OPTIONS)

    session_id: Mapped[int] = mapped_column(BigId, ForeignKey("auth_sessions.id"), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    parent_id: Mapped[int | None] = mapped_column(
        # SET NULL: purging old tokens (or a whole table) never trips over the chain.
        BigId,
        ForeignKey("refresh_tokens.id", ondelete="SET NULL"),
        nullable=True,
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


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
