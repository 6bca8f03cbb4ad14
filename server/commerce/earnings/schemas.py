"""The earnings API objects."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from server.http.ids import Id

Channel = Literal["alipay", "wechat"]
WithdrawalStatus = Literal["requested", "approved", "rejected", "paying", "paid", "failed"]


class EarningsSummary(BaseModel):
    """A creator's balances in fen: pending (not yet settled), available (may be negative when
    a refund came after a withdrawal) and held by withdrawals in progress."""

    currency: str
    pending: int
    available: int
    withdrawing: int


class EarningOut(BaseModel):
    """The creator's share of one sold order item."""

    id: int
    order_id: int | None
    order_item_id: int | None
    gross: int
    fee: int
    net: int
    refunded: int
    clawed_back: int
    currency: str
    status: Literal["pending", "available", "reversed"]
    available_at: datetime
    created_at: datetime


class StatementPath(BaseModel):
    month: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM, business time.")


class SalesTotals(BaseModel):
    count: int
    gross: int
    fee: int
    net: int


class StatementOut(BaseModel):
    """One month in the business timezone. Balances are pending + available;
    closing = opening + sales.net - refunds - withdrawals."""

    month: str
    currency: str
    starts_at: datetime
    ends_at: datetime
    opening_balance: int
    closing_balance: int
    sales: SalesTotals
    refunds: int = Field(description="Shares taken back by refunds.")
    withdrawals: int = Field(description="Withdrawn, less withdrawals returned.")
    settled: int = Field(description="Moved from pending to available.")


class WithdrawalIn(BaseModel):
    amount: int = Field(gt=0, lt=10**12, description="Fen.")
    channel: Channel
    account: str = Field(
        min_length=3,
        max_length=100,
        description="Alipay: the login id (phone or email); WeChat: the payee's openid.",
    )


class WithdrawalOut(BaseModel):
    id: int
    creator_id: int
    amount: int
    currency: str
    channel: Channel
    account: str = Field(description="Masked.")
    status: WithdrawalStatus
    reason: str | None
    payout_ref: str | None
    created_at: datetime
    reviewed_at: datetime | None
    paid_at: datetime | None


class WithdrawalPath(BaseModel):
    id: Id


class WithdrawalQuery(BaseModel):
    status: WithdrawalStatus | None = None
    limit: int = Field(20, ge=1, le=100)
    cursor: str | None = Field(None, max_length=512)


class RejectIn(BaseModel):
    reason: str = Field(min_length=1, max_length=500)
