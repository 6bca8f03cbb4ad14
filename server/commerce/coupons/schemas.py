"""The coupons API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, BaseModel, Field, model_validator

from server.commerce.catalog.schemas import MAX_PRICE, Currency, Price
from server.http.fields import UtcDateTime
from server.http.ids import Id
from server.http.pagination import PageQuery


def _code(value: str) -> str:
    value = value.strip().upper()
    if not 3 <= len(value) <= 32 or not all(
        c.isascii() and (c.isalnum() or c in "-_") for c in value
    ):
        raise ValueError("3 to 32 letters, digits, '-' or '_'.")
    return value


Code = Annotated[str, Field(max_length=64), AfterValidator(_code)]
Limit = Annotated[int, Field(ge=1, le=10_000_000)]


class CouponCreate(BaseModel):
    code: Code
    kind: Literal["fixed", "percent"]
    value: int = Field(ge=1, le=MAX_PRICE, description="分 off (fixed) or percent off (1-100).")
    max_discount: Price | None = Field(None, description="Cap of a percentage discount, in 分.")
    currency: Currency = "CNY"
    min_amount: Price = Field(0, description="The applicable subtotal must reach this, in 分.")
    starts_at: UtcDateTime | None = None
    ends_at: UtcDateTime | None = None
    total_limit: Limit | None = Field(None, description="Uses in all; null: unlimited.")
    per_user_limit: Limit | None = Field(1, description="Uses per user; null: unlimited.")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.kind == "percent" and self.value > 100:
            raise ValueError("A percentage is 1 to 100.")
        if self.kind == "fixed" and self.max_discount is not None:
            raise ValueError("max_discount caps percentage coupons only.")
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must come after starts_at.")
        return self


class CouponPatch(BaseModel):
    status: Literal["active", "disabled"] | None = None
    ends_at: UtcDateTime | None = None
    total_limit: Limit | None = None
    per_user_limit: Limit | None = None


class CouponOut(BaseModel):
    id: int
    code: str
    creator_id: int | None = Field(description="Null: a platform coupon for every product.")
    kind: str
    value: int
    max_discount: int | None
    currency: str
    min_amount: int
    starts_at: datetime | None
    ends_at: datetime | None
    total_limit: int | None
    per_user_limit: int | None
    used_count: int
    status: str
    created_at: datetime


class CouponPath(BaseModel):
    id: Id


class CouponListQuery(PageQuery):
    status: Literal["active", "disabled"] | None = None


class QuoteItem(BaseModel):
    product_id: Id
    quantity: int = Field(1, ge=1, le=999)


class QuoteIn(BaseModel):
    code: Code
    items: list[QuoteItem] = Field(min_length=1, max_length=100)


class QuoteOut(BaseModel):
    coupon_id: int
    code: str
    subtotal: int
    discount: int
    total: int
    currency: str
    product_ids: list[int] = Field(description="The products the discount applies to.")
