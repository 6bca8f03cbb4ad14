"""The tutor's catalogue: AI models (routes to providers and prices), personas, and quotas."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import TABLE_OPTIONS, Base, BigId, IdMixin, Json, UTCDateTime, utcnow

MODEL_KINDS = ("chat", "embedding")
PERSONA_STATUSES = ("draft", "active", "archived")
QUOTA_SUBJECTS = ("role", "user")


class TutorModel(IdMixin, Base):
    """A model as the platform sells it: `routes` (`[{provider, upstream_model}]`) are tried in
    order until one answers; prices are credits per 1,000 prompt and completion tokens."""

    __tablename__ = "tutor_models"
    __table_args__ = (Index("ix_tutor_models_name", "name", unique=True), TABLE_OPTIONS)

    name: Mapped[str] = mapped_column(String(64), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False, default="chat")
    routes: Mapped[list[dict[str, Any]]] = mapped_column(Json, nullable=False)
    prompt_credits_per_1k: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    completion_credits_per_1k: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    max_output_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=1024)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class Persona(IdMixin, Base):
    """A tutor character: its system prompt (never shown to users), the chat model it answers
    with, and whether it retrieves from content and remembers older turns."""

    __tablename__ = "tutor_personas"
    __table_args__ = (Index("ix_tutor_personas_status_id", "status", "id"), TABLE_OPTIONS)

    name: Mapped[str] = mapped_column(String(64), nullable=False)
    avatar_url: Mapped[str | None] = mapped_column(String(512), nullable=True)
    description: Mapped[str | None] = mapped_column(String(500), nullable=True)
    system_prompt: Mapped[str] = mapped_column(Text, nullable=False)
    model_id: Mapped[int] = mapped_column(BigId, ForeignKey("tutor_models.id"), nullable=False)
    tags: Mapped[list[str]] = mapped_column(Json, nullable=False, default=list)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="draft")
    retrieval: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    memory: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class TutorQuota(IdMixin, Base):
    """Limits for a role (`subject` is the role name) or one user (`subject` is the user id):
    tokens per business day and runs at once. NULL: no limit of that kind from this row."""

    __tablename__ = "tutor_quotas"
    __table_args__ = (
        Index("ix_tutor_quotas_subject_type_subject", "subject_type", "subject", unique=True),
        TABLE_OPTIONS,
    )

    subject_type: Mapped[str] = mapped_column(String(8), nullable=False)
    subject: Mapped[str] = mapped_column(String(64), nullable=False)
    tokens_per_day: Mapped[int | None] = mapped_column(Integer, nullable=True)
    concurrent_runs: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
