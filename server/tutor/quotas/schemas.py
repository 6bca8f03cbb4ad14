"""The tutor quotas and usage API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from server.http.fields import IsoDate
from server.http.ids import Id

Role = Literal["reader", "creator", "moderator", "admin"]
# A billion tokens a day, a thousand runs at once: beyond is a typo.
MAX_TOKENS_PER_DAY = 1_000_000_000
MAX_CONCURRENT_RUNS = 1_000
# The longest span a usage view covers, in days.
MAX_SPAN_DAYS = 366


class QuotaIn(BaseModel):
    """The whole quota row; null: no limit of that kind from this row (see the route)."""

    model_config = ConfigDict(extra="forbid")

    tokens_per_day: int | None = Field(..., ge=0, le=MAX_TOKENS_PER_DAY)
    concurrent_runs: int | None = Field(..., ge=0, le=MAX_CONCURRENT_RUNS)


class QuotaOut(BaseModel):
    subject_type: Literal["role", "user"]
    subject: str = Field(description="The role name, or the user id as text.")
    tokens_per_day: int | None
    concurrent_runs: int | None
    updated_at: datetime


class QuotaList(BaseModel):
    items: list[QuotaOut]
    defaults: EffectiveQuotaOut = Field(description="Where no row applies (from the settings).")


class RolePath(BaseModel):
    role: Role


class UserPath(BaseModel):
    user_id: Id


class EffectiveQuotaOut(BaseModel):
    tokens_per_day: int | None = Field(description="Null: unlimited.")
    concurrent_runs: int | None = Field(description="Null: unlimited.")


class UserQuotaOut(BaseModel):
    quota: QuotaOut | None = Field(description="The user's own row; null: none is set.")
    effective: EffectiveQuotaOut = Field(description="The limits that apply to the user.")


class Span(BaseModel):
    since: IsoDate | None = Field(None, description="First business day (default: 29 days ago).")
    until: IsoDate | None = Field(None, description="Last business day (default: today).")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.since and self.until and self.until < self.since:
            raise ValueError("until must not come before since.")
        return self


class UsageQuery(Span):
    group_by: Literal["user", "model", "day"] = "day"
    user_id: Id | None = None
    model_id: Id | None = None
    limit: int = Field(100, ge=1, le=1000, description="Groups answered, at most.")


class UsageTotals(BaseModel):
    runs: int
    prompt_tokens: int
    completion_tokens: int
    cost_credits: int


class UsageGroup(UsageTotals):
    user_id: int | None = Field(None, description="Grouped by user.")
    model_id: int | None = Field(None, description="Grouped by model.")
    model_name: str | None = Field(None, description="Grouped by model (null once deleted).")
    day: date | None = Field(None, description="Grouped by day.")


class UsageReport(BaseModel):
    group_by: Literal["user", "model", "day"]
    since: date
    until: date
    items: list[UsageGroup] = Field(
        description="Days in order; users and models by cost, then tokens, largest first."
    )
    totals: UsageTotals


class MyUsageRow(UsageTotals):
    day: date
    model_id: int
    model_name: str | None


class TodayOut(BaseModel):
    day: date
    tokens_used: int
    tokens_remaining: int | None = Field(description="Null: unlimited.")
    active_runs: int
    runs_remaining: int | None = Field(description="Null: unlimited.")


class MyUsage(BaseModel):
    since: date
    until: date
    items: list[MyUsageRow] = Field(description="Per business day and model, newest day first.")
    totals: UsageTotals
    quota: EffectiveQuotaOut
    today: TodayOut


QuotaList.model_rebuild()
