"""The API contract of blocks."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from server.identity.users.schemas import UserSummary


class BlockState(BaseModel):
    """Whether you now block this user."""

    blocked: bool


class BlockItem(BaseModel):
    """A user you block, and since when."""

    user: UserSummary
    blocked_at: datetime
