"""The subscriptions API objects."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from server.http.ids import Id

RenewWith = Literal["wallet", "order"]


class SubscriptionPath(BaseModel):
    id: Id


class SubscriptionOut(BaseModel):
    """One subscription to a plan product."""

    id: int
    product_id: int
    plan_title: str
    interval: str | None
    status: Literal["trialing", "active", "past_due", "cancelled", "expired"]
    current_period_start: datetime
    current_period_end: datetime
    trial_ends_at: datetime | None
    cancel_at_period_end: bool
    renew_with: RenewWith
    grace_until: datetime | None
    retry_count: int
    next_retry_at: datetime | None
    last_order_id: int | None
    created_at: datetime
    ended_at: datetime | None


class SubscriptionEventOut(BaseModel):
    """One step of a subscription's history."""

    id: int
    kind: str = Field(
        description="started, renewed, trial_ended, cancel_requested, resumed, renewal_method, "
        "renewal_order, renewal_failed, retry_failed, renewal_unavailable, cancelled, expired."
    )
    from_status: str | None
    to_status: str
    period_end: datetime | None
    detail: dict[str, Any]
    created_at: datetime


class RenewalChange(BaseModel):
    renew_with: RenewWith = Field(
        description="`wallet`: charged in credits before the period ends; `order`: a renewal "
        "order to pay is created."
    )
