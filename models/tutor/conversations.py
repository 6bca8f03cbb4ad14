"""Tutor conversations, their messages, and each conversation's rolling summary."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column

from models.base import TABLE_OPTIONS, Base, BigId, IdMixin, Json, UTCDateTime, utcnow

MESSAGE_ROLES = ("user", "assistant")
LongText = Text().with_variant(mysql.MEDIUMTEXT(), "mysql")


class Conversation(IdMixin, Base):
    """One user's conversation with a persona, optionally about one content item.
    `active_run_id` is set while a run is queued or running: one at a time."""

    __tablename__ = "tutor_conversations"
    __table_args__ = (
        Index(
            "ix_tutor_conversations_user_id_last_activity_id", "user_id", "last_activity_at", "id"
        ),
        TABLE_OPTIONS,
    )

    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    persona_id: Mapped[int] = mapped_column(BigId, ForeignKey("tutor_personas.id"), nullable=False)
    content_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    title: Mapped[str | None] = mapped_column(String(200), nullable=True)
    memory_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    active_run_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    last_activity_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), nullable=False, default=utcnow
    )


class TutorMessage(IdMixin, Base):
    """A turn: the user's question, or the assistant's answer as it was shown (with its
    citations, token usage, cost and why it ended)."""

    __tablename__ = "tutor_messages"
    __table_args__ = (
        Index("ix_tutor_messages_conversation_id_id", "conversation_id", "id"),
        TABLE_OPTIONS,
    )

    conversation_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tutor_conversations.id", ondelete="CASCADE"), nullable=False
    )
    user_id: Mapped[int] = mapped_column(BigId, nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    body: Mapped[str] = mapped_column(LongText, nullable=False)
    run_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    citations: Mapped[list[dict[str, Any]] | None] = mapped_column(Json, nullable=True)
    usage: Mapped[dict[str, int] | None] = mapped_column(Json, nullable=True)
    cost_credits: Mapped[int | None] = mapped_column(Integer, nullable=True)
    finish_reason: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class ConversationSummary(Base):
    """The rolling summary of a conversation's older turns, folded from the conversation's own
    messages (never from retrieved text), up to and including `through_message_id`."""

    __tablename__ = "tutor_summaries"

    conversation_id: Mapped[int] = mapped_column(
        BigId,
        ForeignKey("tutor_conversations.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    )
    body: Mapped[str] = mapped_column(Text, nullable=False)
    through_message_id: Mapped[int] = mapped_column(BigId, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
