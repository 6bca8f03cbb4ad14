"""The one interface every app store implements: verify a purchase, read a refund notification.

A store answers a `StoreTransaction` (what it vouches was bought) or raises a `StoreError`
with a client-facing code.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from server.http.errors import ApiError, ServiceUnavailable


@dataclass(slots=True, frozen=True)
class StoreTransaction:
    store: str
    transaction_id: str
    store_product_id: str
    environment: str
    original_transaction_id: str | None = None
    purchased_at: datetime | None = None
    quantity: int = 1
    revoked: bool = False
    # The account the app said it bought for (App Store appAccountToken, a UUID); None: unsaid.
    app_account_token: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True, frozen=True)
class StoreNotice:
    """A store's notification: a refund or revocation of `transaction_id`, or something else."""

    store: str
    kind: str  # "refund" (revoke what was granted) or "ignored"
    transaction_id: str | None
    detail: str


class StoreError(ApiError):
    status, code, message = 422, "iap.invalid_purchase", "The store did not vouch for this."


class StoreUnavailable(ServiceUnavailable):
    code, message = "iap.store_unavailable", "The store could not be reached; retry later."


class StoreDisabled(ApiError):
    status, code, message = 422, "iap.store_disabled", "This store is not enabled."


class PurchasePending(ApiError):
    status, code, message = 409, "iap.pending", "The store has not completed this purchase yet."


class Store(ABC):
    """An app store. A store answers what it vouches was bought, or raises a StoreError."""

    name: str

    @abstractmethod
    async def verify(self, proof: dict[str, Any]) -> StoreTransaction:
        """Check a purchase proof with the store; raise StoreError when it does not hold."""

    @abstractmethod
    async def notice(self, payload: dict[str, Any]) -> StoreNotice:
        """Authenticate and read one store notification."""

    @abstractmethod
    async def acknowledge(self, txn: StoreTransaction, proof: dict[str, Any]) -> None:
        """Tell the store the purchase was delivered (where it wants to be told)."""
