"""The invoices and receipts API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, BaseModel, Field, StringConstraints, model_validator

from server.http.ids import Id
from server.http.pagination import PageQuery
from server.identity.users.schemas import Email

# 统一社会信用代码 (18 characters) or an older 15-20 character taxpayer number.
TaxNumber = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=r"^[0-9A-Za-z]{15,20}$"),
    AfterValidator(str.upper),
]


class InvoiceCreate(BaseModel):
    title_type: Literal["personal", "company"]
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    tax_number: TaxNumber | None = Field(None, description="Required for companies.")
    email: Email = Field(description="Where the provider sends the invoice.")

    @model_validator(mode="after")
    def _tax_number(self) -> Self:
        if self.title_type == "company" and not self.tax_number:
            raise ValueError("A company invoice needs the tax number.")
        if self.title_type == "personal" and self.tax_number:
            raise ValueError("A personal invoice has no tax number.")
        return self


class OrderPath(BaseModel):
    id: Id


class InvoiceOut(BaseModel):
    id: int
    order_id: int
    title_type: str
    title: str
    tax_number: str | None
    email: str = Field(description="Masked.")
    amount: int
    currency: str
    status: Literal["pending", "issued", "failed"]
    invoice_number: str | None
    error: str | None
    download_url: str | None = Field(description="Signed link for the caller, once issued.")
    created_at: datetime
    issued_at: datetime | None


class ReceiptOut(BaseModel):
    order_id: int
    status: Literal["pending", "ready"]
    download_url: str | None = Field(description="Signed link for the caller, once ready.")
    created_at: datetime
    ready_at: datetime | None


class InvoiceListQuery(PageQuery):
    pass


class AdminInvoiceQuery(PageQuery):
    status: Literal["pending", "issued", "failed"] | None = None
