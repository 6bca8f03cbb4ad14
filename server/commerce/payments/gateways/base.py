"""The one interface every payment gateway implements, and what passes through it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from aiohttp import web
from multidict import CIMultiDictProxy

NoticeKind = Literal["paid", "refund.succeeded", "refund.failed", "dispute", "ignored"]


@dataclass(frozen=True, slots=True)
class Checkout:
    """What we ask a gateway to collect."""

    order_id: int
    out_trade_no: str
    amount: int
    currency: str
    subject: str
    notify_url: str


@dataclass(frozen=True, slots=True)
class Callback:
    """A callback as it arrived: exact body bytes and headers (signatures cover the bytes)."""

    body: bytes
    headers: CIMultiDictProxy[str] | dict[str, str]
    content_type: str = ""


@dataclass(frozen=True, slots=True)
class Notice:
    """A verified provider event in our words. `event_id` is unique per provider and event."""

    event_id: str
    kind: NoticeKind
    out_trade_no: str | None = None
    provider_txn_id: str | None = None
    amount: int | None = None
    currency: str | None = None
    paid_at: datetime | None = None
    out_refund_no: str | None = None
    provider_refund_id: str | None = None
    refund_amount: int | None = None
    # Alipay's refund notices name the payment's refunded total so far, not this refund's.
    refund_is_total: bool = False


@dataclass(frozen=True, slots=True)
class PaymentState:
    """What a gateway says about one payment when asked."""

    status: Literal["succeeded", "pending", "closed", "missing"]
    provider_txn_id: str | None = None
    amount: int | None = None
    currency: str | None = None
    paid_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RefundState:
    status: Literal["processing", "succeeded", "failed"]
    provider_refund_id: str | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class BillLine:
    """One line of a gateway's daily bill: a payment (`reference` = out_trade_no) or a refund
    (`reference` = out_refund_no), amounts positive in minor units."""

    kind: Literal["payment", "refund"]
    reference: str
    amount: int
    provider_txn_id: str = ""


@dataclass(frozen=True, slots=True)
class Refunding:
    out_trade_no: str
    out_refund_no: str
    provider_txn_id: str | None
    amount: int
    total: int
    currency: str
    reason: str
    extra: dict[str, Any] = field(default_factory=dict)


class Gateway(ABC):
    """A payment provider. Implementations talk HTTP through `server.gateway_clients.http` only."""

    name: str

    @abstractmethod
    async def create(self, checkout: Checkout) -> dict[str, Any]:
        """Open the payment; return what the buyer's client needs (QR link, client secret...)."""

    @abstractmethod
    async def verify(self, callback: Callback) -> Notice:
        """Check the callback's signature and return the event; CallbackRejected otherwise."""

    @abstractmethod
    async def query(self, *, out_trade_no: str, provider_txn_id: str | None) -> PaymentState:
        """Ask the gateway how one payment stands (the fallback when no callback came)."""

    @abstractmethod
    async def refund(self, refunding: Refunding) -> RefundState:
        """Ask for a refund (idempotent at the gateway by `out_refund_no`)."""

    @abstractmethod
    async def query_refund(self, refunding: Refunding) -> RefundState:
        """Ask how a refund stands."""

    async def bill(self, day: date) -> list[BillLine] | None:
        """The day's bill, or None when this gateway has none to download."""
        return None

    def acknowledge(self) -> web.Response:
        """The answer that tells the provider its callback was taken (after commit only)."""
        return web.json_response({"received": True})

    def refuse(self, reason: str, status: int) -> web.Response:
        """The answer that makes the provider retry later (5xx) or reports a bad callback (4xx)."""
        return web.json_response({"error": reason}, status=status)
