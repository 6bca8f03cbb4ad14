"""The follow graph's API objects."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from server.identity.users.schemas import UserSummary


class FollowState(BaseModel):
    """Whether you follow the user now, and their follower count (null if they hide it)."""

    following: bool
    follower_count: int | None


class FollowItem(BaseModel):
    """One row of a follower or following list."""

    user: UserSummary
    followed_at: datetime
    mutual: bool = Field(description="This user and the list's owner follow each other.")


class SuggestedCreator(UserSummary):
    """A creator you do not follow yet."""

    follower_count: int | None = Field(description="Null when the creator hides it.")
