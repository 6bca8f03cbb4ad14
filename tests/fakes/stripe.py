"""A fake Stripe API: PaymentIntents and Refunds over form-encoded requests, and webhooks
signed the way Stripe signs them (checked by the stripe library's own WebhookSignature)."""

from __future__ import annotations

import json
import secrets
from typing import Any
from urllib.parse import parse_qsl

import stripe
from aiohttp import web

from tests.fakes.base import Call, FakeGateway

SECRET_KEY = "sk_test_sharestack"
WEBHOOK_SECRET = "whsec_sharestack_test"


def unflatten(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """`metadata[order_id]=7` -> {"metadata": {"order_id": "7"}}."""
    data: dict[str, Any] = {}
    for key, value in pairs:
        parts = key.replace("]", "").split("[")
        target = data
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return data


class FakeStripe(FakeGateway):
    def __init__(self) -> None:
        super().__init__()
        self.webhook_secret = WEBHOOK_SECRET
        self.intents: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.idempotent: dict[str, dict[str, Any]] = {}
        self.on("POST", "/v1/payment_intents", self._create_intent)
        self.on("GET", r"/v1/payment_intents/(?P<id>[^/]+)", self._get_intent)
        self.on("POST", "/v1/refunds", self._create_refund)

    def settings(self) -> dict[str, Any]:
        return {
            "stripe_secret_key": SECRET_KEY,
            "stripe_webhook_secret": self.webhook_secret,
            "stripe_api_url": self.base_url,
        }

    def event(
        self,
        event_type: str,
        obj: dict[str, Any],
        *,
        timestamp: int | None = None,
        fields: dict[str, Any] | None = None,
    ) -> tuple[dict[str, str], str]:
        """A webhook delivery (headers, body) signed with the endpoint secret; `fields` replace
        top-level fields of the event (to sign malformed ones)."""
        event = {
            "id": f"evt_{secrets.token_hex(12)}",
            "object": "event",
            "type": event_type,
            "created": int(self.now().timestamp()),
            "data": {"object": obj},
        }
        body = json.dumps({**event, **(fields or {})})
        header = stripe.WebhookSignature.generate_signature_header(
            body, self.webhook_secret, timestamp=timestamp
        )
        return {"Stripe-Signature": header, "Content-Type": "application/json"}, body

    def succeed(self, intent_id: str) -> tuple[dict[str, str], str]:
        intent = self.intents[intent_id]
        intent.update(status="succeeded", amount_received=intent["amount"])
        return self.event("payment_intent.succeeded", intent)

    def paid_event(
        self,
        out_trade_no: str,
        amount: int,
        currency: str = "cny",
        intent_id: str | None = None,
        fields: dict[str, Any] | None = None,
    ) -> tuple[dict[str, str], str]:
        intent = {
            "id": intent_id or f"pi_{secrets.token_hex(8)}",
            "object": "payment_intent",
            "amount": amount,
            "amount_received": amount,
            "currency": currency,
            "status": "succeeded",
            "metadata": {"out_trade_no": out_trade_no},
        }
        return self.event("payment_intent.succeeded", intent, fields=fields)

    async def _read(self, request: web.Request) -> tuple[dict[str, Any], web.Response | None]:
        body = unflatten(parse_qsl((await request.read()).decode(), keep_blank_values=True))
        self.calls.append(Call(request.method, request.path, body, dict(request.headers)))
        if request.headers.get("Authorization") != f"Bearer {SECRET_KEY}":
            error = {"error": {"type": "invalid_request_error", "message": "Invalid API Key"}}
            return body, web.json_response(error, status=401)
        return body, None

    async def _create_intent(self, request: web.Request, _: dict[str, str]) -> web.StreamResponse:
        body, refused = await self._read(request)
        if refused:
            return refused
        key = request.headers.get("Idempotency-Key", "")
        if key in self.idempotent:
            return web.json_response(self.idempotent[key])
        intent_id = f"pi_{secrets.token_hex(8)}"
        intent = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": int(body["amount"]),
            "currency": body["currency"],
            "status": "requires_payment_method",
            "client_secret": f"{intent_id}_secret_{secrets.token_hex(8)}",
            "metadata": body.get("metadata", {}),
        }
        self.intents[intent_id] = self.idempotent[key] = intent
        return web.json_response(intent)

    async def _get_intent(self, request: web.Request, groups: dict[str, str]) -> web.StreamResponse:
        _, refused = await self._read(request)
        if refused:
            return refused
        intent = self.intents.get(groups["id"])
        if intent is None:
            error = {"error": {"type": "invalid_request_error", "code": "resource_missing"}}
            return web.json_response(error, status=404)
        return web.json_response(intent)

    async def _create_refund(self, request: web.Request, _: dict[str, str]) -> web.StreamResponse:
        body, refused = await self._read(request)
        if refused:
            return refused
        key = request.headers.get("Idempotency-Key", "")
        if key in self.idempotent:
            return web.json_response(self.idempotent[key])
        refund = {
            "id": f"re_{secrets.token_hex(8)}",
            "object": "refund",
            "amount": int(body["amount"]),
            "payment_intent": body["payment_intent"],
            "status": "succeeded",
            "metadata": body.get("metadata", {}),
        }
        self.refunds[refund["id"]] = self.idempotent[key] = refund
        return web.json_response(refund)
