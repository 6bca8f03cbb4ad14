"""The cart API."""

from __future__ import annotations

from pydantic import BaseModel, Field

from server.http.ids import Id

MAX_ITEMS = 100


class CartAdd(BaseModel):
    product_id: Id
    quantity: int = Field(1, ge=1, le=999, description="Added to what the cart already holds.")


class CartChange(BaseModel):
    quantity: int = Field(ge=1, le=999)


class CartItemPath(BaseModel):
    product_id: Id


class CartLine(BaseModel):
    product_id: int
    creator_id: int | None
    kind: str
    title: str
    unit_price: int = Field(description="The product's current price in 分.")
    quantity: int
    amount: int
    currency: str
    available: bool = Field(description="False: no longer for sale (left out of the totals).")


class CartOut(BaseModel):
    items: list[CartLine]
    totals: dict[str, int] = Field(description="Sum of the available lines, per currency.")
    count: int = Field(description="Units of available products.")
