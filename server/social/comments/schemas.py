"""The comments API contract."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from server.content.items.schemas import AuthorOut
from server.http.ids import Id
from server.http.pagination import PageQuery

MAX_BODY = 2000
Body = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_BODY)]


class TargetPath(BaseModel):
    id: Id


class CommentPath(BaseModel):
    id: Id


class CommentIn(BaseModel):
    body: Body = Field(description="Plain text; `@nickname` mentions that person.")
    parent_id: Id | None = Field(None, description="The comment this one answers (a reply).")


class CommentEdit(BaseModel):
    body: Body


class CommentListQuery(PageQuery):
    sort: Literal["hot", "new"] = Field(
        "new", description="new: newest first; hot: most liked and answered first."
    )


class CommentOut(BaseModel):
    id: int
    target_type: str
    target_id: int
    author: AuthorOut | None
    parent_id: int | None
    root_id: int | None
    reply_to: AuthorOut | None = Field(description="The author of the comment answered.")
    body: str | None = Field(description="null for a deleted, hidden or pending comment.")
    status: str = Field(description="visible, pending (awaits a moderator), hidden or deleted.")
    edited: bool
    edited_at: datetime | None
    like_count: int
    reply_count: int
    liked: bool = Field(description="Whether the caller likes it (false for anonymous).")
    created_at: datetime


class ThreadOut(BaseModel):
    """A root comment and a page of its replies, oldest first."""

    root: CommentOut
    replies: list[CommentOut]
    next_cursor: str | None


class LikeState(BaseModel):
    liked: bool
    like_count: int


class ModerationNote(BaseModel):
    note: str | None = Field(None, max_length=500)


class HeldQuery(PageQuery):
    status: Literal["pending", "hidden"] = Field(
        "pending", description="pending: held by screening; hidden: hidden by a moderator."
    )
