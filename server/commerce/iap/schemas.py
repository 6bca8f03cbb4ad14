"""In-app purchase request and response shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from server.http.fields import StrictBool
from server.http.ids import Id

Store = Literal["app_store", "google_play"]


class VerifyIn(BaseModel):
    store: Store
    signed_transaction: str | None = Field(
        None, max_length=20_000, description="App Store: StoreKit 2's JWS transaction."
    )
    product_id: str | None = Field(None, max_length=150, description="Google Play: the SKU.")
    purchase_token: str | None = Field(
        None, max_length=2_000, description="Google Play: the purchase token."
    )


class PurchaseOut(BaseModel):
    id: int
    store: Store
    transaction_id: str
    store_product_id: str
    status: Literal["granted", "refunded"]
    credits_granted: int
    balance: int = Field(description="The wallet's credits after this purchase.")
    replayed: bool = Field(description="True when this transaction had been redeemed before.")
    created_at: datetime


class AppAccountTokenOut(BaseModel):
    app_account_token: UUID = Field(
        description="Set as the appAccountToken of this account's App Store purchases."
    )


class AppStoreNotificationIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    signedPayload: str = Field(max_length=100_000)


class PubSubPushIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    message: dict[str, Any]
    subscription: str | None = None


class PubSubQuery(BaseModel):
    token: str = Field(max_length=200)


class IapProductIn(BaseModel):
    store: Store
    store_product_id: str = Field(min_length=1, max_length=150)
    credits: int = Field(0, ge=0, le=10_000_000, description="Credits per unit bought.")
    product_id: Id | None = Field(None, description="A catalog product it unlocks.")
    plan_days: int | None = Field(None, ge=1, le=3660)
    active: StrictBool = True


class IapProductOut(IapProductIn):
    id: int
