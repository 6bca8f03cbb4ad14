"""Announcements: the segment, the admin's request and the progress view."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from server.http.ids import Id

Role = Literal["reader", "creator", "moderator", "admin"]


class Segment(BaseModel):
    """Who gets it: `all` active accounts, one `role`, `creators`, or listed `users`."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["all", "role", "creators", "users"]
    role: Role | None = Field(None, description="With kind `role` only.")
    user_ids: list[Id] | None = Field(
        None, min_length=1, max_length=10_000, description="With kind `users` only."
    )

    @model_validator(mode="after")
    def _fits_kind(self) -> Segment:
        if (self.kind == "role") != (self.role is not None):
            raise ValueError("`role` is given with kind `role` and only then")
        if (self.kind == "users") != (self.user_ids is not None):
            raise ValueError("`user_ids` is given with kind `users` and only then")
        return self


class AnnouncementIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=5000)
    segment: Segment


class AnnouncementOut(BaseModel):
    id: int
    title: str
    body: str
    segment: dict[str, Any]
    status: Literal["sending", "sent"]
    sent_count: int = Field(description="Accounts notified so far.")
    batches: int = Field(description="Fan-out batches done.")
    created_by: int
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


class AnnouncementDetail(AnnouncementOut):
    recipients: int = Field(description="Accounts in the segment now (active ones).")


class AnnouncementPath(BaseModel):
    id: Id = Field(description="The announcement id.")
