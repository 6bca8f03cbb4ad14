"""One interface over the app stores: verify a purchase, read a refund notification.

A store answers a `StoreTransaction` (what it vouches was bought) or raises a `StoreError`
with a client-facing code. Stores are enabled by settings; `stores_for(settings)` keeps one set
per settings object (the Google token is cached inside it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from server.http.errors import ApiError, ServiceUnavailable
from server.settings import Settings


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


class Store(Protocol):
    name: str

    async def verify(self, proof: dict[str, Any]) -> StoreTransaction:
        """Check a purchase proof with the store; raise StoreError when it does not hold."""
        ...

    async def notice(self, payload: dict[str, Any]) -> StoreNotice:
        """Authenticate and read one store notification."""
        ...

    async def acknowledge(self, txn: StoreTransaction, proof: dict[str, Any]) -> None:
        """Tell the store the purchase was delivered (where it wants to be told)."""
        ...


_CACHE: dict[int, tuple[Settings, dict[str, Store]]] = {}


def stores_for(settings: Settings) -> dict[str, Store]:
    cached = _CACHE.get(id(settings))
    if cached is not None and cached[0] is settings:
        return cached[1]
    from server.commerce.iap.apple import AppStore
    from server.commerce.iap.google import GooglePlay

    stores: dict[str, Store] = {}
    if settings.app_store_bundle_id and settings.app_store_root_certificates:
        stores["app_store"] = AppStore(settings)
    if settings.google_play_package_name and settings.google_play_private_key:
        stores["google_play"] = GooglePlay(settings)
    _CACHE[id(settings)] = (settings, stores)
    return stores


def store(settings: Settings, name: str) -> Store:
    found = stores_for(settings).get(name)
    if found is None:
        raise StoreDisabled()
    return found
