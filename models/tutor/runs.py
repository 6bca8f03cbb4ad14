"""Tutor runs (one answer being produced, held for and billed) and usage per user, model, day."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import TABLE_OPTIONS, Base, BigId, IdMixin, Json, UTCDateTime, utcnow
from models.tutor.conversations import LongText

RUN_STATUSES = ("queued", "running", "completed", "stopped", "failed")
ACTIVE_STATUSES = ("queued", "running")


class TutorRun(IdMixin, Base):
    """One answer: queued with a hold on the user's credits, run once by a worker (which streams
    it and checkpoints the text shown so far), and settled exactly once."""

    __tablename__ = "tutor_runs"
    __table_args__ = (
        Index(
            "ix_tutor_runs_conversation_id_client_message_id",
            "conversation_id",
            "client_message_id",
            unique=True,
        ),
        Index("ix_tutor_runs_status_heartbeat_at", "status", "heartbeat_at"),
        Index("ix_tutor_runs_user_id_status", "user_id", "status"),
        TABLE_OPTIONS,
    )

    conversation_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tutor_conversations.id", ondelete="CASCADE"), nullable=False
    )
    user_id: Mapped[int] = mapped_column(BigId, nullable=False)
    client_message_id: Mapped[str] = mapped_column(String(64), nullable=False)
    user_message_id: Mapped[int] = mapped_column(BigId, nullable=False)
    assistant_message_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    model_id: Mapped[int] = mapped_column(BigId, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="queued")
    max_tokens: Mapped[int] = mapped_column(Integer, nullable=False)
    prompt_estimate: Mapped[int] = mapped_column(Integer, nullable=False)
    hold_credits: Mapped[int] = mapped_column(Integer, nullable=False)
    # What was shown (sent as deltas) so far, as of the last checkpoint, and its last seq.
    text: Mapped[str] = mapped_column(LongText, nullable=False, default="")
    seq: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    completion_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    cost_credits: Mapped[int | None] = mapped_column(Integer, nullable=True)
    finish_reason: Mapped[str | None] = mapped_column(String(16), nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error_message: Mapped[str | None] = mapped_column(String(255), nullable=True)
    citations: Mapped[list[dict[str, Any]] | None] = mapped_column(Json, nullable=True)
    provider: Mapped[str | None] = mapped_column(String(32), nullable=True)
    upstream_model: Mapped[str | None] = mapped_column(String(128), nullable=True)
    stop_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class TutorUsage(Base):
    """Tokens and credits of settled runs per user, model and business day (quotas and the
    admins' usage view read it)."""

    __tablename__ = "tutor_usage"
    __table_args__ = (Index("ix_tutor_usage_day_model_id", "day", "model_id"), TABLE_OPTIONS)

    user_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    model_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    runs: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    prompt_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    cost_credits: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
