"""Users: a person's account, profile, roles and status."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import (
    Base,
    IdMixin,
    Json,
    TimestampMixin,
    UTCDateTime,
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


# @mentions resolve nicknames to accounts: one index read per name, not a scan of users.
NICKNAME_INDEX = Index("ix_users_nickname", User.nickname)
