"""Stripe: PaymentIntents for the client, signed webhooks, refunds and disputes (chargebacks)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import orjson
import stripe
from aiohttp import web

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
from server.gateway_clients.errors import GatewayRejected
from server.gateway_clients.http import send

REFUND_STATES = {"succeeded": "succeeded", "pending": "processing", "requires_action": "processing"}


def form(data: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Stripe's form encoding: nested keys as `metadata[order_id]`."""
    pairs: list[tuple[str, str]] = []
    for key, value in data.items():
        name = f"{prefix}[{key}]" if prefix else key
        if isinstance(value, dict):
            pairs.extend(form(value, name))
        elif isinstance(value, bool):
            pairs.append((name, "true" if value else "false"))
        elif value is not None:
            pairs.append((name, str(value)))
    return pairs


class StripeGateway(Gateway):
    name = "stripe"

    def __init__(
        self,
        *,
        secret_key: str,
        webhook_secret: str,
        api_url: str,
        timeout: float,
        tolerance_seconds: int,
    ) -> None:
        self.secret_key = secret_key
        self.webhook_secret = webhook_secret
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self.tolerance = tolerance_seconds

    async def _call(
        self, method: str, path: str, data: dict[str, Any] | None = None, *, key: str | None = None
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.secret_key}"}
        if key:
            headers["Idempotency-Key"] = key
        body = None
        if data is not None:
            body = urlencode(form(data))
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        answer = await send(
            method, self.api_url + path, data=body, headers=headers, seconds=self.timeout
        )
        parsed = orjson.loads(answer.body) if answer.body else {}
        if answer.status >= 400:
            error = parsed.get("error") or {}
            raise GatewayRejected(
                str(error.get("message") or answer.status),
                code=str(error.get("code") or error.get("type")),
                status=answer.status,
            )
        return dict(parsed)

    async def create(self, checkout: Checkout) -> dict[str, Any]:
        intent = await self._call(
            "POST",
            "/v1/payment_intents",
            {
                "amount": checkout.amount,
                "currency": checkout.currency.lower(),
                "description": checkout.subject[:200],
                "automatic_payment_methods": {"enabled": True},
                "metadata": {"out_trade_no": checkout.out_trade_no, "order_id": checkout.order_id},
            },
            key=f"pi-{checkout.out_trade_no}",
        )
        return {"client_secret": intent.get("client_secret"), "provider_txn_id": intent.get("id")}

    async def verify(self, callback: Callback) -> Notice:
        header = callback.headers.get("Stripe-Signature")
        try:
            stripe.WebhookSignature.verify_header(
                callback.body, header, self.webhook_secret, self.tolerance
            )
            event = orjson.loads(callback.body)
        except (
            stripe.SignatureVerificationError,
            orjson.JSONDecodeError,
            UnicodeDecodeError,
        ) as exc:
            raise CallbackRejected("bad signature") from exc
        return self._notice(event)

    def _notice(self, event: Any) -> Notice:
        # Signed is not the same as well formed: a 500 here would make Stripe retry forever.
        data = event.get("data") if isinstance(event, dict) else None
        obj = data.get("object") if isinstance(data, dict) else None
        if not isinstance(obj, dict):
            raise CallbackRejected("malformed event")
        kind, event_id = str(event.get("type")), _text(event.get("id")) or ""
        if not event_id:
            raise CallbackRejected("event without id")
        if kind == "payment_intent.succeeded":
            metadata = obj.get("metadata")
            return Notice(
                event_id=event_id,
                kind="paid",
                out_trade_no=_text(metadata.get("out_trade_no"))
                if isinstance(metadata, dict)
                else None,
                provider_txn_id=_text(obj.get("id")),
                amount=_amount(obj.get("amount_received")) or _amount(obj.get("amount")),
                currency=(_text(obj.get("currency")) or "").upper(),
                paid_at=_created(event.get("created")),
            )
        if kind in ("refund.created", "refund.updated", "refund.failed"):
            status = obj.get("status")
            if status not in ("succeeded", "failed", "canceled"):
                return Notice(event_id=event_id, kind="ignored")
            metadata = obj.get("metadata")
            ours = _text(metadata.get("out_refund_no")) if isinstance(metadata, dict) else None
            return Notice(
                event_id=event_id,
                kind="refund.succeeded" if status == "succeeded" else "refund.failed",
                provider_txn_id=_text(obj.get("payment_intent")),
                out_refund_no=ours or f"stripe:{_text(obj.get('id'))}",
                provider_refund_id=_text(obj.get("id")),
                refund_amount=_amount(obj.get("amount")),
            )
        if kind == "charge.dispute.created":
            return Notice(
                event_id=event_id,
                kind="dispute",
                provider_txn_id=_text(obj.get("payment_intent")),
                out_refund_no=f"dispute:{_text(obj.get('id'))}",
                provider_refund_id=_text(obj.get("id")),
                refund_amount=_amount(obj.get("amount")),
            )
        return Notice(event_id=event_id, kind="ignored")

    def acknowledge(self) -> web.Response:
        return web.json_response({"received": True})

    async def query(self, *, out_trade_no: str, provider_txn_id: str | None) -> PaymentState:
        if not provider_txn_id:
            return PaymentState("missing")
        try:
            intent = await self._call("GET", f"/v1/payment_intents/{provider_txn_id}")
        except GatewayRejected as exc:
            if exc.status == 404:
                return PaymentState("missing")
            raise
        status = intent.get("status")
        if status == "succeeded":
            return PaymentState(
                "succeeded",
                intent.get("id"),
                intent.get("amount_received") or intent.get("amount"),
                str(intent.get("currency") or "").upper(),
                datetime.now(UTC),
            )
        return PaymentState("closed" if status == "canceled" else "pending")

    async def refund(self, refunding: Refunding) -> RefundState:
        try:
            refund = await self._call(
                "POST",
                "/v1/refunds",
                {
                    "payment_intent": refunding.provider_txn_id,
                    "amount": refunding.amount,
                    "metadata": {"out_refund_no": refunding.out_refund_no},
                },
                key=f"re-{refunding.out_refund_no}",
            )
        except GatewayRejected as exc:
            return RefundState("failed", detail=f"{exc.code}: {exc}")
        status = REFUND_STATES.get(str(refund.get("status")), "failed")
        return RefundState(status, refund.get("id"), str(refund.get("status")))  # type: ignore[arg-type]

    async def query_refund(self, refunding: Refunding) -> RefundState:
        # The same idempotency key answers the refund made the first time.
        return await self.refund(refunding)


def _text(value: Any) -> str | None:
    """A string field of an event, or None for anything else."""
    return value if isinstance(value, str) else None


def _amount(value: Any) -> int | None:
    """An amount in minor units (a JSON integer), or None for anything else."""
    return value if type(value) is int and 0 <= value < 2**63 else None


def _created(value: Any) -> datetime:
    """When Stripe made the event: a positive Unix time in seconds, or the event is refused."""
    if type(value) is not int or value <= 0:
        raise CallbackRejected("malformed created")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError) as exc:  # past year 9999
        raise CallbackRejected("malformed created") from exc
