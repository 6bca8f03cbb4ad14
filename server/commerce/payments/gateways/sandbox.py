"""The sandbox gateway: no money moves. A dev page (or a test) posts HMAC-signed callbacks;
refunds succeed at once. Never on in production."""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import UTC, datetime
from typing import Any

import orjson

from server.commerce.payments.errors import CallbackRejected
from server.commerce.payments.gateways.base import (
    Callback,
    Checkout,
    Gateway,
    Notice,
    PaymentState,
    Refunding,
    RefundState,
)
from server.crypto import same_secret

TIMESTAMP_HEADER = "X-Sandbox-Timestamp"
SIGNATURE_HEADER = "X-Sandbox-Signature"


class SandboxGateway(Gateway):
    name = "sandbox"

    def __init__(self, *, secret: bytes, public_base_url: str, tolerance_seconds: int) -> None:
        self.secret = secret
        self.public_base_url = public_base_url.rstrip("/")
        self.tolerance = tolerance_seconds

    def sign(self, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
        """The headers that make `body` a valid sandbox callback."""
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        mac = hmac.new(self.secret, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        return {TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: mac, "Content-Type": "application/json"}

    def paid_callback(self, out_trade_no: str, amount: int, currency: str = "CNY") -> bytes:
        event = {"amount": amount, "currency": currency}
        return _callback(f"{out_trade_no}:paid", "payment.succeeded", out_trade_no, event)

    def refund_callback(self, out_trade_no: str, amount: int, refund_no: str) -> bytes:
        """A refund made at the sandbox itself (as in a gateway's dashboard)."""
        event = {"refund_no": refund_no, "amount": amount}
        return _callback(f"{refund_no}:refunded", "refund.succeeded", out_trade_no, event)

    def dispute_callback(self, out_trade_no: str, amount: int, dispute_id: str) -> bytes:
        """A chargeback: the buyer's bank took the money back."""
        event = {"dispute_id": dispute_id, "amount": amount}
        return _callback(f"{dispute_id}:disputed", "dispute.created", out_trade_no, event)

    async def create(self, checkout: Checkout) -> dict[str, Any]:
        return {
            "pay_url": f"{self.public_base_url}/api/v1/payments/sandbox/{checkout.out_trade_no}/pay"
        }

    async def verify(self, callback: Callback) -> Notice:
        stamp = callback.headers.get(TIMESTAMP_HEADER, "")
        given = callback.headers.get(SIGNATURE_HEADER, "")
        # isdigit alone lets "²" through, which int() refuses.
        timestamp = int(stamp) if stamp.isascii() and stamp.isdigit() else 0
        expected = self.sign(callback.body, timestamp=timestamp)
        if not same_secret(given, expected[SIGNATURE_HEADER]):
            raise CallbackRejected("bad signature", status=401)
        if abs(time.time() - timestamp) > self.tolerance:
            raise CallbackRejected("stale timestamp", status=401)
        try:
            event = orjson.loads(callback.body)
        except orjson.JSONDecodeError as exc:
            raise CallbackRejected("malformed body") from exc
        kind = event.get("type")
        event_id = str(event.get("event_id") or "")
        if not event_id:
            raise CallbackRejected("event without id")
        if kind == "payment.succeeded":
            return Notice(
                event_id=event_id,
                kind="paid",
                out_trade_no=event.get("out_trade_no"),
                provider_txn_id=f"sandbox-{event.get('out_trade_no')}",
                amount=event.get("amount"),
                currency=event.get("currency"),
                paid_at=datetime.now(UTC),
            )
        if kind in ("refund.succeeded", "dispute.created"):
            return _taken_back(event_id, event)
        return Notice(event_id=event_id, kind="ignored")

    async def query(self, *, out_trade_no: str, provider_txn_id: str | None) -> PaymentState:
        return PaymentState("pending")

    async def refund(self, refunding: Refunding) -> RefundState:
        return RefundState("succeeded", f"sandbox-{refunding.out_refund_no}")

    async def query_refund(self, refunding: Refunding) -> RefundState:
        return RefundState("succeeded", f"sandbox-{refunding.out_refund_no}")


def _callback(event_id: str, kind: str, out_trade_no: str, event: dict[str, object]) -> bytes:
    """The JSON body of a sandbox event: its id, its type, its payment, then the rest."""
    return orjson.dumps({"event_id": event_id, "type": kind, "out_trade_no": out_trade_no, **event})


def _taken_back(event_id: str, event: dict[str, Any]) -> Notice:
    """A refund or a dispute of a sandbox payment (its reference must be a string)."""
    dispute = event.get("type") == "dispute.created"
    reference = event.get("dispute_id" if dispute else "refund_no")
    if not isinstance(reference, str) or not reference:
        raise CallbackRejected("malformed body")
    amount = event.get("amount")
    no = event.get("out_trade_no")
    return Notice(
        event_id=event_id,
        kind="dispute" if dispute else "refund.succeeded",
        out_trade_no=no if isinstance(no, str) else None,
        out_refund_no=f"{'dispute' if dispute else 'sandbox'}:{reference}",
        provider_refund_id=reference[:64],
        refund_amount=amount if type(amount) is int and 0 < amount < 2**63 else None,
    )
