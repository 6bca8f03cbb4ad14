"""The content API: requests and responses."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    StringConstraints,
    UrlConstraints,
    model_validator,
)

from server.http.fields import StrictBool, UtcDateTime
from server.http.ids import MAX_ID, Id
from server.http.pagination import PageQuery

Kind = Literal["article", "audio", "video", "course"]
Status = Literal["draft", "in_review", "published", "scheduled", "rejected", "archived"]
AccessLevel = Literal["free", "paid", "subscription", "members"]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Summary = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
Body = Annotated[str, Field(max_length=200_000)]
CoverUrl = Annotated[HttpUrl, UrlConstraints(max_length=500, allowed_schemes=["http", "https"])]
MAX_TAGS = 10


def normalise_tag(value: str) -> str:
    """NFKC, trimmed, lower case, inner whitespace collapsed (`ｐｙｔｈｏｎ ` is `python`)."""
    value = " ".join(unicodedata.normalize("NFKC", value).split()).lower()
    if not value or len(value) > 32:
        raise ValueError("A tag has 1 to 32 characters.")
    return value


TagName = Annotated[str, AfterValidator(normalise_tag)]


def _unique_tags(tags: list[str] | None) -> list[str] | None:
    if tags is None:
        return None
    unique = list(dict.fromkeys(tags))
    if len(unique) > MAX_TAGS:
        raise ValueError(f"At most {MAX_TAGS} tags.")
    return unique


Tags = Annotated[list[TagName], AfterValidator(_unique_tags)]


class Settings(BaseModel):
    """How an item is sold and filed; shared by create and update."""

    access: AccessLevel | None = None
    price_cents: int | None = Field(None, ge=0, le=100_000_000, description="In 分 (minor units).")
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | None = None
    category_id: Id | None = None
    tags: Tags | None = None
    cover_url: CoverUrl | None = None
    position: int | None = Field(None, ge=0, le=100_000, description="Order within the course.")

    @model_validator(mode="after")
    def _price_matches_access(self) -> Self:
        if self.access == "paid" and self.price_cents == 0:
            raise ValueError("Paid content needs a price above 0.")
        return self


class ContentCreate(Settings):
    model_config = ConfigDict(extra="forbid")

    kind: Kind
    title: Title
    summary: Summary = ""
    body: Body = ""
    parent_id: Id | None = Field(None, description="The course this is a chapter of.")


class ContentPatch(Settings):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="after")
    def _something(self) -> Self:
        if not self.model_fields_set:
            raise ValueError("Give at least one field to change.")
        return self


class DraftSave(BaseModel):
    """Autosave of the working copy; `revision` is the one the client last saw."""

    model_config = ConfigDict(extra="forbid")

    revision: int = Field(ge=1, le=MAX_ID)
    title: Title | None = None
    summary: Summary | None = None
    body: Body | None = None


class DraftSaved(BaseModel):
    revision: int
    saved_at: datetime


class AuthorOut(BaseModel):
    id: int
    nickname: str
    avatar_url: str | None


class ChapterOut(BaseModel):
    id: int
    kind: Kind
    title: str
    position: int
    access: AccessLevel
    can_read: bool


class PlanOffer(BaseModel):
    """An active subscription plan that includes the item (or its course)."""

    id: int
    title: str
    price: int = Field(description="In 分 (minor units), per interval.")
    currency: str
    interval: Literal["month", "year"] | None


class ContentOut(BaseModel):
    """A published item as a reader sees it: the whole body, or its preview."""

    id: int
    kind: Kind
    status: Status
    author: AuthorOut
    title: str
    summary: str
    html: str = Field(description="The whole body when `can_read`, else the free preview.")
    preview: bool
    can_read: bool
    access: AccessLevel
    price_cents: int
    currency: str
    category_id: int | None
    tags: list[str]
    cover_url: str | None
    parent_id: int | None
    position: int
    chapters: list[ChapterOut] | None = None
    published_at: datetime | None
    counters: dict[str, int] = Field(
        default_factory=dict, description="views, likes, favorites, comments, shares (eventual)."
    )
    product_id: int | None = Field(
        None,
        description="The active product that sells this item one-off, at `price_cents` "
        "(POST it to the cart or an order); null when it is not sold one-off.",
    )
    plans: list[PlanOffer] = Field(
        default_factory=list, description="Active plans that include this item or its course."
    )


class ContentSummary(BaseModel):
    """An item in a list: no body."""

    id: int
    kind: Kind
    status: Status
    author: AuthorOut
    title: str
    summary: str
    access: AccessLevel
    price_cents: int
    currency: str
    category_id: int | None
    tags: list[str]
    cover_url: str | None
    published_at: datetime | None
    counters: dict[str, int] = Field(
        default_factory=dict, description="views, likes, favorites, comments, shares (eventual)."
    )


class DraftOut(BaseModel):
    """The working copy and the item's state, for its author and moderators."""

    id: int
    kind: Kind
    status: Status
    author_id: int
    title: str
    summary: str
    body: str
    revision: int
    saved_at: datetime
    access: AccessLevel
    price_cents: int
    currency: str
    category_id: int | None
    tags: list[str]
    cover_url: str | None
    parent_id: int | None
    position: int
    published_version: int | None
    published_at: datetime | None
    scheduled_at: datetime | None
    review_note: str | None
    created_at: datetime
    updated_at: datetime


class VersionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None


class VersionOut(BaseModel):
    number: int
    title: str
    note: str | None
    editor_id: int
    created_at: datetime


class VersionDetail(VersionOut):
    summary: str
    body: str


class CompareQuery(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: int = Field(alias="from", ge=1, le=MAX_ID, description="A version number.")
    to: int | None = Field(
        None, ge=1, le=MAX_ID, description="A version number; the working copy if unset."
    )


class Comparison(BaseModel):
    from_version: int
    to_version: int | None
    diff: str = Field(description="A unified diff of the Markdown bodies (title and summary too).")


class Submit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    publish_at: UtcDateTime | None = Field(
        None, description="Publish at this time (UTC) once approved; now if unset or past."
    )


class Review(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None


class Rejection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class ContentId(BaseModel):
    content_id: Id


class VersionPath(BaseModel):
    content_id: Id
    number: int = Field(ge=1, le=MAX_ID)


class ListQuery(PageQuery):
    kind: Kind | None = None
    category_id: Id | None = None
    tag: Annotated[str, StringConstraints(max_length=64)] | None = None
    author_id: Id | None = None
    price: Literal["free", "paid"] | None = Field(
        None, description="free: access free; paid: the rest."
    )
    featured: StrictBool = False


class MineQuery(PageQuery):
    status: Status | None = None


class CategoryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    slug: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]
    parent_id: Id | None = None
    position: int = Field(0, ge=0, le=100_000)


class CategoryOut(BaseModel):
    id: int
    parent_id: int | None
    name: str
    slug: str
    position: int


class CategoryId(BaseModel):
    category_id: Id


class TagOut(BaseModel):
    name: str
    count: int


class TagQuery(BaseModel):
    q: Annotated[str, StringConstraints(max_length=32)] | None = None
    limit: int = Field(20, ge=1, le=100)


class EntitlementGrant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: Id
    subject_type: Literal["content", "plan", "membership"]
    subject_id: int = Field(0, ge=0, le=MAX_ID)
    ends_at: UtcDateTime | None = None
    note: Annotated[str, StringConstraints(max_length=200)] | None = None


class EntitlementOut(BaseModel):
    id: int
    user_id: int
    subject_type: str
    subject_id: int
    source: str
    source_id: str
    starts_at: datetime
    ends_at: datetime | None
    revoked_at: datetime | None
