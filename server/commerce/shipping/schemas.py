"""The shipping API objects."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from server.http.ids import Id
from server.http.pagination import PageQuery

ShipmentStatus = Literal[
    "pending", "shipped", "delivered", "return_requested", "returned", "cancelled"
]

# One line of text: trimmed, not empty.
Line = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class ShippingAddress(BaseModel):
    """Where the physical goods of an order go (a snapshot: later changes elsewhere do not
    move it)."""

    recipient_name: Annotated[Line, StringConstraints(max_length=64)]
    phone: Annotated[
        str,
        StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9][0-9 -]{4,30}$"),
    ] = Field(description="Digits, spaces and dashes, optionally a leading +.")
    region: Annotated[Line, StringConstraints(max_length=64)] = Field(
        description="Region or province (省/自治区/直辖市)."
    )
    city: Annotated[Line, StringConstraints(max_length=64)]
    district: Annotated[Line, StringConstraints(max_length=64)]
    address_line: Annotated[Line, StringConstraints(max_length=255)]
    postal_code: (
        Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9 -]{3,16}$")]
        | None
    ) = None


class ShipmentPath(BaseModel):
    id: Id


class ShipmentListQuery(PageQuery):
    status: ShipmentStatus | None = None


class ShipBody(BaseModel):
    carrier: Annotated[Line, StringConstraints(max_length=64)] = Field(
        description="Who carries it (顺丰, EMS...)."
    )
    tracking_number: Annotated[
        str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9-]{4,64}$")
    ]


class ReturnBody(BaseModel):
    reason: Annotated[Line, StringConstraints(max_length=255)]


class ShipmentItemOut(BaseModel):
    order_item_id: int
    product_id: int
    title: str
    quantity: int


class ShipmentOut(BaseModel):
    """One seller's parcel of an order."""

    id: int
    order_id: int
    buyer_id: int
    seller_id: int | None = Field(description="null: the platform sells these goods.")
    status: ShipmentStatus
    carrier: str | None
    tracking_number: str | None
    return_reason: str | None
    items: list[ShipmentItemOut]
    shipping_address: ShippingAddress | None = Field(
        description="null: erased with the buyer's account once nothing was left to send."
    )
    created_at: datetime
    shipped_at: datetime | None
    delivered_at: datetime | None
    return_requested_at: datetime | None
    returned_at: datetime | None
    cancelled_at: datetime | None
