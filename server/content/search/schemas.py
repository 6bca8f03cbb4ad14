"""Search requests and results: the API contract."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from server.content.items.schemas import AccessLevel, AuthorOut, Kind
from server.http.ids import Id
from server.http.pagination import PageQuery

Sort = Literal["relevance", "newest", "hottest"]


class SearchQuery(PageQuery):
    q: Annotated[str, StringConstraints(min_length=1, max_length=100)] = Field(
        description="Words to find (Chinese, English, or both). Every word must occur; a Chinese "
        "run must occur as written (its overlapping character pairs are all required)."
    )
    kind: Kind | None = None
    category_id: Id | None = None
    tag: Annotated[str, StringConstraints(max_length=64)] | None = None
    author_id: Id | None = None
    price: Literal["free", "paid"] | None = Field(
        None, description="free: access free; paid: the rest."
    )
    sort: Sort = Field(
        "relevance",
        description="relevance (best match first), newest (published_at), hottest (the hot "
        "score of the item's counters, as on the hot list).",
    )


class SearchHit(BaseModel):
    """A published item that matched; `can_read` says whether the viewer may read all of it."""

    id: int
    kind: Kind
    title: str
    summary: str
    author: AuthorOut
    access: AccessLevel
    price_cents: int
    currency: str
    category_id: int | None
    cover_url: str | None
    tags: list[str]
    published_at: datetime | None
    can_read: bool
    highlight: str | None = Field(
        None, description="Where the query occurs in the title or summary, as plain text."
    )
