"""The community API contract: topics and posts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from server.content.items.schemas import AuthorOut
from server.http.fields import StrictBool
from server.http.ids import Id
from server.http.pagination import PageQuery

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
PostBody = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20000)]


class TopicPath(BaseModel):
    id: Id


class PostPath(BaseModel):
    id: Id


class TopicIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    slug: Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=64)]
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""


class TopicOut(BaseModel):
    id: int
    name: str
    slug: str
    description: str
    creator_id: int
    post_count: int
    member_count: int
    created_at: datetime


class Membership(BaseModel):
    topic_id: int
    joined: bool


class PostIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title
    body: PostBody


class PostPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    body: PostBody | None = None


class PostListQuery(PageQuery):
    sort: Literal["new", "hot"] = Field(
        "new", description="Pinned posts first, then newest (new) or most replied (hot)."
    )


class PostOut(BaseModel):
    id: int
    topic_id: int
    author: AuthorOut | None
    title: str | None = Field(description="null for a deleted, hidden or pending post.")
    body: str | None = Field(description="null for a deleted, hidden or pending post.")
    status: str
    pinned: bool
    locked: bool
    reply_count: int
    edited: bool
    created_at: datetime


class Flag(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: StrictBool = Field(description="true to pin (or lock), false to undo it.")


class ModerationNote(BaseModel):
    note: str | None = Field(None, max_length=500)
