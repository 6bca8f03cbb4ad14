"""The orders API objects."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Self

from pydantic import BaseModel, Field, model_validator

from server.commerce.shipping.schemas import ShipmentOut, ShippingAddress
from server.http.fields import StrictBool
from server.http.ids import Id
from server.http.pagination import PageQuery

OrderStatus = Literal[
    "pending_payment",
    "paid",
    "fulfilled",
    "cancelled",
    "refunding",
    "refunded",
    "partially_refunded",
]


class OrderLineIn(BaseModel):
    product_id: Id
    quantity: int = Field(1, ge=1, le=999, description="Only physical goods take more than 1.")


class OrderCreate(BaseModel):
    """Buy the cart (`from_cart: true`) or the listed products; prices are today's."""

    from_cart: StrictBool = False
    items: list[OrderLineIn] | None = Field(None, min_length=1, max_length=50)
    coupon_code: str | None = Field(None, min_length=1, max_length=64)
    shipping_address: ShippingAddress | None = Field(
        None,
        description="Required when the order holds physical goods (422 "
        "`shipping.address_required`); ignored when it holds none.",
    )

    @model_validator(mode="after")
    def one_source(self) -> Self:
        if self.from_cart == (self.items is not None):
            raise ValueError("Send either from_cart: true or items, not both.")
        return self


class OrderPath(BaseModel):
    id: Id


class OrderListQuery(PageQuery):
    status: OrderStatus | None = None


class AdminOrderListQuery(OrderListQuery):
    user_id: Id | None = None


class OrderItemOut(BaseModel):
    id: int
    product_id: int
    creator_id: int | None
    kind: str
    title: str
    unit_price: int
    quantity: int
    amount: int = Field(description="What the line costs after its share of the discount.")
    refunded_amount: int
    fulfilled_at: datetime | None


class OrderEventOut(BaseModel):
    from_status: str | None
    to_status: str
    reason: str | None
    created_at: datetime


class OrderOut(BaseModel):
    """An order without its lines (lists)."""

    id: int
    number: str
    user_id: int
    status: OrderStatus
    kind: str
    currency: str
    subtotal: int
    discount: int
    total: int
    refunded_amount: int
    provider: str | None
    created_at: datetime
    paid_at: datetime | None
    cancelled_at: datetime | None
    fulfilled_at: datetime | None
    expires_at: datetime | None = Field(description="An unpaid order is cancelled at this time.")


class OrderDetail(OrderOut):
    """An order with its lines and its history, oldest change first."""

    items: list[OrderItemOut]
    history: list[OrderEventOut]
    shipping_address: ShippingAddress | None = Field(
        None, description="Where its physical goods go; null when it has none."
    )
    shipments: list[ShipmentOut] = Field(
        default_factory=list, description="One per seller of its physical goods, once paid."
    )
