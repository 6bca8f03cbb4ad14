"""The reviews API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

from server.http.ids import Id
from server.http.pagination import PageQuery

MAX_IMAGES = 9


def _unique(ids: list[int] | None) -> list[int] | None:
    return None if ids is None else list(dict.fromkeys(ids))


ImageIds = Annotated[
    list[Id],
    Field(max_length=MAX_IMAGES, description="Ids of your own uploaded images."),
    AfterValidator(_unique),
]
Rating = Annotated[int, Field(ge=1, le=5)]
Text = Annotated[str, Field(max_length=2000)]


class ReviewCreate(BaseModel):
    rating: Rating
    body: Text = ""
    images: ImageIds = []
    order_item_id: Id | None = Field(
        None, description="Which purchase is reviewed; default: the oldest one not reviewed yet."
    )


class ReviewPatch(BaseModel):
    rating: Rating | None = None
    body: Text | None = None
    images: ImageIds | None = None


class ReviewImage(BaseModel):
    id: int
    url: str | None = Field(description="A signed, expiring link; null while processing.")


class ReviewAuthor(BaseModel):
    id: int
    nickname: str
    avatar_url: str | None


class ReviewOut(BaseModel):
    id: int
    product_id: int
    order_item_id: int
    author: ReviewAuthor
    rating: int
    body: str
    images: list[ReviewImage]
    verified_purchase: bool = True
    created_at: datetime
    updated_at: datetime


class ReviewPath(BaseModel):
    id: Id


class ReviewListQuery(PageQuery):
    rating: Rating | None = Field(None, description="Only reviews with this rating.")


class RatingSummary(BaseModel):
    product_id: int
    rating_count: int
    rating_average: float | None
    distribution: dict[str, int] = Field(description="Reviews per rating, '1' to '5'.")
