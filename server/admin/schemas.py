"""What the admin commands accept."""

from __future__ import annotations

from pydantic import BaseModel, Field

from server.users.schemas import Email, Nickname


class AdminAccount(BaseModel):
    """What `python -m server createadmin` accepts; the same rules as sign-up."""

    email: Email
    password: str | None = Field(None, min_length=8, max_length=128)
    nickname: Nickname | None = None
