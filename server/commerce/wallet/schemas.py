"""Wallet request and response shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from server.http.fields import UtcDateTime
from server.http.ids import Id
from server.http.pagination import PageQuery

MAX_CREDITS = 10_000_000
REFERENCE = r"^[A-Za-z0-9._:\-]+$"


class WalletOut(BaseModel):
    user_id: int
    balance: int = Field(description="Credits held.")
    currency: Literal["CRD"] = "CRD"
    credit_value_fen: int = Field(description="What one credit is worth, in 分.")


class ConsumeIn(BaseModel):
    amount: int = Field(gt=0, le=MAX_CREDITS, description="Credits to spend.")
    reference: str = Field(
        min_length=1,
        max_length=100,
        pattern=REFERENCE,
        description="What is being paid for (e.g. `lesson:42`); one consume per reference.",
    )
    reason: str | None = Field(None, max_length=200, description="Shown in the history.")


class WalletChangeOut(BaseModel):
    transaction_id: int | None
    amount: int = Field(description="Signed change of the balance.")
    balance: int
    replayed: bool = Field(description="True when this reference had been posted before.")


class TransactionOut(BaseModel):
    id: int = Field(description="The entry id.")
    transaction_id: int
    kind: str
    amount: int = Field(description="Signed change of the balance.")
    balance_after: int
    reference: str
    memo: str | None
    created_at: datetime


class TransactionQuery(PageQuery):
    kind: str | None = Field(None, max_length=40, description="Only this kind of transaction.")
    since: UtcDateTime | None = Field(None, description="From this instant (inclusive).")
    until: UtcDateTime | None = Field(None, description="Before this instant (exclusive).")

    @model_validator(mode="after")
    def _range(self) -> TransactionQuery:
        if self.since and self.until and self.since >= self.until:
            raise ValueError("since must be before until")
        return self


class WalletUserPath(BaseModel):
    user_id: Id


class AdjustmentIn(BaseModel):
    amount: int = Field(
        ge=-MAX_CREDITS, le=MAX_CREDITS, description="Signed credits; negative takes away."
    )
    reason: str = Field(min_length=1, max_length=200)
    reference: str | None = Field(
        None,
        max_length=100,
        pattern=REFERENCE,
        description="A natural reference; the same one adjusts once.",
    )

    @model_validator(mode="after")
    def _non_zero(self) -> AdjustmentIn:
        if self.amount == 0:
            raise ValueError("amount must not be zero")
        return self
