"""Asking and run shapes (the public contract)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from server.http.ids import Id
from server.tutor.conversations.schemas import Citation, MessageOut, Usage

RunStatus = Literal["queued", "running", "completed", "stopped", "failed"]


class AskIn(BaseModel):
    client_message_id: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9._:\-]+$",
        description="The client's id for this question: sending it again answers the first run.",
    )
    body: str = Field(min_length=1, max_length=8000)


class RunRef(BaseModel):
    id: int
    status: RunStatus


class AskedOut(BaseModel):
    message: MessageOut
    run: RunRef


class RunPath(BaseModel):
    run_id: Id


class RunError(BaseModel):
    code: str
    message: str


class RunOut(BaseModel):
    id: int
    conversation_id: int
    status: RunStatus
    text: str = Field(
        description="The answer as shown so far (as of the last checkpoint while "
        "it streams; whole once it ended)."
    )
    seq: int = Field(description="The last delta's seq in `text`.")
    max_tokens: int
    hold_credits: int
    finish_reason: str | None
    error: RunError | None
    usage: Usage | None
    cost_credits: int | None
    citations: list[Citation]
    message_id: int | None = Field(description="The assistant message, once the run ended.")
    created_at: datetime
    finished_at: datetime | None
