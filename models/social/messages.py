"""Conversations, messages, blocks and presence.

Presence lives in Redis only (server/social/presence); these are the durable parts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import TABLE_OPTIONS, Base, BigId, IdMixin, Json, UTCDateTime, utcnow


class Conversation(IdMixin, Base):
    """A one-to-one (`direct`, one per pair through `direct_key`) or small group conversation."""

    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint("direct_key"),
        Index("ix_conversations_created_by", "created_by"),
        TABLE_OPTIONS,
    )

    kind: Mapped[str] = mapped_column(String(8), nullable=False)
    # "<lower id>:<higher id>" for direct conversations, NULL for groups.
    direct_key: Mapped[str | None] = mapped_column(String(48), nullable=True)
    title: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created_by: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    last_message_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class ConversationMember(IdMixin, Base):
    """A participant, with their read position and unread count (kept by the send path)."""

    __tablename__ = "conversation_members"
    __table_args__ = (
        UniqueConstraint("conversation_id", "user_id"),
        # My conversations, most recent activity first.
        Index("ix_conversation_members_user_id_activity", "user_id", "activity_id"),
        TABLE_OPTIONS,
    )

    conversation_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
    )
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    # The conversation's last message id when it was last active (its creation: 0).
    activity_id: Mapped[int] = mapped_column(BigId, nullable=False, default=0)
    last_read_message_id: Mapped[int] = mapped_column(BigId, nullable=False, default=0)
    # Delivery receipts: the newest message one of this member's devices confirmed receiving.
    last_delivered_message_id: Mapped[int] = mapped_column(BigId, nullable=False, default=0)
    unread_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class Message(IdMixin, Base):
    """One message; `client_message_id` makes a sender's retry return the first one."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("sender_id", "client_message_id"),
        Index("ix_messages_conversation_id_id", "conversation_id", "id"),
        TABLE_OPTIONS,
    )

    conversation_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
    )
    sender_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    client_message_id: Mapped[str] = mapped_column(String(64), nullable=False)
    body: Mapped[str] = mapped_column(Text(), nullable=False)
    # Media ids of the sender's own uploads.
    attachments: Mapped[list[Any]] = mapped_column(Json, nullable=False, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    recalled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class HiddenMessage(Base):
    """A message one participant deleted for themselves only."""

    __tablename__ = "hidden_messages"
    __table_args__ = (Index("ix_hidden_messages_message_id", "message_id"), TABLE_OPTIONS)

    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    message_id: Mapped[int] = mapped_column(
        BigId,
        ForeignKey("messages.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    )


class MessageToken(Base):
    """The search index of messages: one row per distinct encoded token of a message's body
    (server/content/search/tokenizer.py), matched exactly on both dialects without FULLTEXT or
    FTS5."""

    __tablename__ = "message_tokens"
    __table_args__ = (Index("ix_message_tokens_message_id", "message_id"), TABLE_OPTIONS)

    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    message_id: Mapped[int] = mapped_column(
        BigId,
        ForeignKey("messages.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    )
