"""The API contract of presence."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class PresenceOut(BaseModel):
    user_id: int
    online: bool
    last_seen_at: datetime | None = Field(description="When they last went offline, if known.")
