"""The payments API contract."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from server.http.ids import Id

Provider = Literal["alipay", "wechat", "stripe", "sandbox"]


class ProviderPath(BaseModel):
    provider: Provider


class OrderPath(BaseModel):
    id: Id


class TradePath(BaseModel):
    out_trade_no: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")


class PaymentCreate(BaseModel):
    provider: Provider


class PaymentOut(BaseModel):
    id: int
    order_id: int
    provider: str
    out_trade_no: str
    amount: int = Field(description="Minor units (分).")
    currency: str
    status: str
    client: dict[str, Any] = Field(
        description="What the client needs to pay: Alipay `qr_code` and `page_url`, WeChat "
        "`code_url`, Stripe `client_secret`, sandbox `pay_url`."
    )
    created_at: datetime


class RefundCreate(BaseModel):
    amount: int | None = Field(
        None, gt=0, lt=2**53, description="Minor units; the whole remainder when omitted."
    )
    reason: str = Field("", max_length=255)


class RefundOut(BaseModel):
    id: int
    order_id: int
    payment_id: int
    amount: int
    currency: str
    reason: str
    status: str
    out_refund_no: str
    created_at: datetime


class SandboxPaid(BaseModel):
    outcome: str


class ReconciliationOut(BaseModel):
    id: int
    provider: str
    business_date: date
    status: str
    bill_rows: int
    matched: int
    mismatched: int
    error: str | None
    started_at: datetime
    finished_at: datetime | None


class MismatchOut(BaseModel):
    id: int
    kind: str
    reference: str
    ours: int | None
    theirs: int | None


class ReconciliationDetail(ReconciliationOut):
    mismatches: list[MismatchOut]


# Gateway callbacks are answered in each gateway's own format (the notify route documents them).
class WechatPayTaken(BaseModel):
    """WeChat Pay's answer when taken."""

    code: Literal["SUCCESS"]
    message: str


class WechatPayRefused(BaseModel):
    """WeChat Pay's answer when not taken (with a 4xx or 5xx status): the reason."""

    code: Literal["FAIL"]
    message: str


class CallbackReceived(BaseModel):
    """Stripe's and the sandbox's answer when taken (Stripe reads only the 2xx status)."""

    received: Literal[True]


class CallbackRefused(BaseModel):
    """Stripe's and the sandbox's answer when not taken: the reason (any non-2xx is retried)."""

    error: str
