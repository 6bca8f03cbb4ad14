"""Conversation and message shapes (the public contract)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from server.http.ids import Id


class ConversationIn(BaseModel):
    persona_id: Id
    content_id: Id | None = Field(None, description="The item this conversation is about.")
    title: str | None = Field(None, min_length=1, max_length=200)


class ConversationPatch(BaseModel):
    title: str | None = Field(None, min_length=1, max_length=200)
    memory_enabled: bool | None = Field(
        None, description="Off: older turns are neither sent nor summarised."
    )


class ConversationPath(BaseModel):
    conversation_id: Id


class ConversationOut(BaseModel):
    id: int
    persona_id: int
    content_id: int | None
    title: str | None
    memory_enabled: bool
    active_run_id: int | None = Field(description="The run being answered now, if any.")
    created_at: datetime
    last_activity_at: datetime


class Citation(BaseModel):
    n: int
    content_id: int
    title: str
    anchor: str


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int


class MessageOut(BaseModel):
    id: int
    conversation_id: int
    role: Literal["user", "assistant"]
    body: str
    run_id: int | None
    citations: list[Citation] | None = None
    usage: Usage | None = None
    cost_credits: int | None = None
    finish_reason: str | None = None
    created_at: datetime
