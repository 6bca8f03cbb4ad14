"""The notify route's answers are the ones /api/openapi.json documents: each gateway's own
format when a callback is taken or refused, the error envelope where the platform answers."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from jsonschema import Draft202012Validator

from server.runtime import Runtime
from tests.helpers.payments import Fakes, alipay_form, deliver, open_payment, pending_order, sandbox
from tests.helpers.people import Person

NOTIFY = "/api/v1/payments/{provider}/notify"


async def documented(client: TestClient) -> dict[str, Any]:
    response = await client.get("/api/openapi.json")
    assert response.status == 200
    document: dict[str, Any] = await response.json()
    return document


async def assert_documented(document: dict[str, Any], response: ClientResponse) -> None:
    """The answer's status, media type and body are one the document lists for the route."""
    answers = document["paths"][NOTIFY]["post"]["responses"]
    assert str(response.status) in answers, response.status
    content = answers[str(response.status)]["content"]
    assert response.content_type in content, (response.status, response.content_type)
    text = await response.text()
    body = orjson.loads(text) if response.content_type == "application/json" else text
    # $refs point at #/components/...: give the schema the document's components as its root.
    schema = {**content[response.content_type]["schema"], "components": document["components"]}
    errors = [e.message for e in Draft202012Validator(schema).iter_errors(body)]
    assert not errors, (response.status, body, errors)


def paid_and_forged(
    fakes: Fakes, runtime: Runtime, provider: str, payment: dict[str, Any]
) -> tuple[tuple[dict[str, str], Any], tuple[dict[str, str], Any]]:
    """A genuine paid callback of `provider` and one whose signature does not verify."""
    trade = payment["out_trade_no"]
    if provider == "alipay":
        genuine = alipay_form(fakes.alipay.pay(trade))
        headers, body = genuine
        return genuine, (headers, body.replace("total_amount=6.00", "total_amount=7.00"))
    if provider == "wechat":
        genuine = fakes.wechat.pay(trade)
        headers, body = genuine
        return genuine, ({**headers, "Wechatpay-Signature": "A" * 344}, body)
    if provider == "stripe":
        genuine = fakes.stripe.succeed(next(iter(fakes.stripe.intents)))
        headers, body = genuine
        return genuine, (
            {**headers, "Stripe-Signature": f"t={int(time.time())},v1={'0' * 64}"},
            body,
        )
    gateway = sandbox(runtime)
    body = gateway.paid_callback(trade, payment["amount"])
    return (gateway.sign(body), body), (
        {**gateway.sign(body), "X-Sandbox-Signature": "0" * 64},
        body,
    )


@pytest.mark.parametrize("provider", ["alipay", "wechat", "stripe", "sandbox"])
async def test_taken_refused_and_unknown_callbacks_are_answered_as_documented(
    api: TestClient, buyer: Person, fakes: Fakes, runtime: Runtime, provider: str
) -> None:
    document = await documented(api)
    order = await pending_order(api, buyer)
    payment = await open_payment(api, buyer, order["id"], provider)
    genuine, forged = paid_and_forged(fakes, runtime, provider, payment)

    refused = await deliver(api, provider, *forged)
    assert 400 <= refused.status < 500
    await assert_documented(document, refused)
    taken = await deliver(api, provider, *genuine)
    assert taken.status == 200
    await assert_documented(document, taken)
    again = await deliver(api, provider, *genuine)  # a duplicate delivery is taken again
    assert again.status == 200
    await assert_documented(document, again)


async def test_platform_answers_on_the_notify_route_use_the_documented_envelope(
    api: TestClient, client: TestClient
) -> None:
    document = await documented(api)
    unknown = await api.post("/api/v1/payments/paypal/notify", data=b"{}")
    assert unknown.status == 422
    await assert_documented(document, unknown)
    # `client` has no Alipay keys: the gateway is not configured there.
    unconfigured = await client.post("/api/v1/payments/alipay/notify", data=b"x=1")
    assert unconfigured.status == 404
    await assert_documented(document, unconfigured)
    assert (await unconfigured.json())["error"]["code"] == "payments.provider_unavailable"
