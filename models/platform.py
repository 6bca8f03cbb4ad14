"""Platform tables: the transactional outbox and stored idempotent responses."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column

from models.base import TABLE_OPTIONS, Base, IdMixin, Json, UTCDateTime, utcnow

# Stored responses may be large lists; MEDIUMBLOB holds 16 MiB on MySQL.
ResponseBody = LargeBinary().with_variant(mysql.MEDIUMBLOB(), "mysql")


class OutboxMessage(IdMixin, Base):
    """A job or an event written in the transaction that caused it; deleted once relayed (a kept
    job's row once its task acknowledges it: until then `created_at` is when it is due again)."""

    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_messages_created_at", "created_at"), TABLE_OPTIONS)

    kind: Mapped[str] = mapped_column(String(8), nullable=False)  # "job" | "event"
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")


class IdempotencyKey(IdMixin, Base):
    """One client-chosen key per user and endpoint, with the response it produced."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("scope", "key", name="uq_idempotency_keys_scope_key"),
        Index("ix_idempotency_keys_expires_at", "expires_at"),
        TABLE_OPTIONS,
    )

    scope: Mapped[str] = mapped_column(String(191), nullable=False)  # "<user>:<METHOD> <route>"
    key: Mapped[str] = mapped_column(String(191), nullable=False)
    request_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response_body: Mapped[bytes | None] = mapped_column(ResponseBody, nullable=True)
    content_type: Mapped[str | None] = mapped_column(String(100), nullable=True)
    user_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    # The request running under the key holds it until `locked_until` (its lease); a retry may
    # take it over after that. The token names the holder, so a holder that lost its lease can
    # neither commit its effect nor store or release the key.
    lease_token: Mapped[str | None] = mapped_column(String(32), nullable=True)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Set in the same transaction as the holder's effect: true once something committed.
    took_effect: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default="0"
    )
    # What the effect produced ("order:42"), set with `took_effect`: a retry whose answer was
    # lost is answered from it.
    result_ref: Mapped[str | None] = mapped_column(String(64), nullable=True)
