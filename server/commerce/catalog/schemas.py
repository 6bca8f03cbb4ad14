"""The catalog API: products and what a plan includes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, HttpUrl, StringConstraints, UrlConstraints

from server.http.ids import Id
from server.http.pagination import PageQuery

Kind = Literal["content", "course", "plan", "credits", "physical"]
Status = Literal["draft", "active", "archived"]
Interval = Literal["month", "year"]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
# 一千万元 in 分: more is a typo.
MAX_PRICE = 1_000_000_000
Price = Annotated[int, Field(ge=0, le=MAX_PRICE, description="In 分 (minor units).")]
CoverUrl = Annotated[HttpUrl, UrlConstraints(max_length=500, allowed_schemes=["http", "https"])]


class ProductFields(BaseModel):
    """What a creator may set on a product; kind-specific fields are checked against the kind."""

    description: str | None = Field(None, max_length=5000)
    cover_url: CoverUrl | None = None
    category_id: Id | None = None
    content_id: Id | None = Field(None, description="The content item or course sold.")
    credits: int | None = Field(None, ge=1, le=10_000_000, description="Credit packs.")
    interval: Interval | None = Field(None, description="Plans: the billing period.")
    trial_days: int | None = Field(None, ge=0, le=365, description="Plans: free days first.")
    stock: int | None = Field(
        None, ge=0, le=10_000_000, description="Physical goods; null: no limit."
    )


class ProductCreate(ProductFields):
    kind: Kind
    title: Title
    price: Price
    currency: Currency = "CNY"
    status: Literal["draft", "active"] = "draft"


class ProductPatch(ProductFields):
    title: Title | None = None
    price: Price | None = None
    currency: Currency | None = None
    status: Status | None = None


class ProductOut(BaseModel):
    id: int
    creator_id: int | None
    kind: Kind
    title: str
    description: str
    cover_url: str | None
    category_id: int | None
    price: int
    currency: str
    status: Status
    content_id: int | None
    credits: int | None
    interval: Interval | None
    trial_days: int
    stock: int | None
    rating_count: int
    rating_average: float | None = Field(description="Mean rating, 2 decimals; null: no reviews.")
    created_at: datetime
    updated_at: datetime


class ProductPath(BaseModel):
    id: Id


class ProductQuery(PageQuery):
    kind: Kind | None = None
    category_id: Id | None = None
    creator_id: Id | None = None
    min_price: Price | None = None
    max_price: Price | None = None
    content_id: Id | None = Field(
        None,
        description="Only what sells this content item: its one-off product and the plans "
        "that include it.",
    )


class MyProductQuery(PageQuery):
    status: Status | None = None


class PlanContentsIn(BaseModel):
    content_ids: list[Id] = Field(max_length=500, description="Replaces what the plan includes.")


class PlanContentOut(BaseModel):
    content_id: int
    title: str
    kind: str


class PlanContents(BaseModel):
    plan_id: int
    items: list[PlanContentOut]
