"""The notification object of the API and the list, path and count shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from server.http.pagination import PageQuery

MAX_ID = 2**63 - 1


class NotificationOut(BaseModel):
    """A notification as its recipient sees it; `read_at` null while unread."""

    id: int
    type: str = Field(description="`<domain>.<what>`, e.g. `system.welcome`.")
    title: str
    body: str
    data: dict[str, Any] = Field(description="What the client needs to open the subject.")
    actor_id: int | None = Field(description="The user who caused it, if any.")
    read_at: datetime | None
    created_at: datetime


class NotificationQuery(PageQuery):
    unread_only: bool = Field(False, description="Only notifications not yet read.")


class NotificationPath(BaseModel):
    id: int = Field(ge=1, le=MAX_ID, description="The notification id.")


class UnreadCount(BaseModel):
    unread: int


class ReadAllOut(BaseModel):
    updated: int = Field(description="How many notifications were unread and are now read.")
