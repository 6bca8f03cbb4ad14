"""QUALITY 4: forged or mismatched callbacks change nothing and are answered in the provider's
own error format."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from structlog.testing import capture_logs

from server.runtime import Runtime
from tests.fakes.keys import key_pair
from tests.fakes.wechat import FakeWechatPay
from tests.helpers.payments import (
    Fakes,
    alipay_form,
    deliver,
    open_payment,
    pending_order,
    sandbox,
    snapshot,
)
from tests.helpers.people import Person

Forgery = Callable[[Fakes, Runtime, dict[str, Any]], tuple[dict[str, str], str | bytes]]


def one_byte_changed(body: str, old: str, new: str) -> str:
    assert len(old) == len(new) and old in body
    return body.replace(old, new, 1)


# -- Alipay -------------------------------------------------------------------------------------


def alipay_signed_by_stranger(f: Fakes, r: Runtime, p: dict[str, Any]) -> Any:
    real = f.alipay.platform
    f.alipay.platform = key_pair("forger")
    try:
        return alipay_form(f.alipay.paid_notification(p["out_trade_no"], p["amount"]))
    finally:
        f.alipay.platform = real


def alipay_body_changed(f: Fakes, r: Runtime, p: dict[str, Any]) -> Any:
    headers, body = alipay_form(f.alipay.paid_notification(p["out_trade_no"], p["amount"]))
    return headers, one_byte_changed(body, "total_amount=6.00", "total_amount=7.00")


def alipay_other_app(f: Fakes, r: Runtime, p: dict[str, Any]) -> Any:
    return alipay_form(f.alipay.paid_notification(p["out_trade_no"], p["amount"], app_id="2021X"))


def alipay_other_seller(f: Fakes, r: Runtime, p: dict[str, Any]) -> Any:
    notice = f.alipay.paid_notification(p["out_trade_no"], p["amount"], seller_id="2088999")
    return alipay_form(notice)


def alipay_wrong_amount(f: Fakes, r: Runtime, p: dict[str, Any]) -> Any:
    return alipay_form(f.alipay.paid_notification(p["out_trade_no"], p["amount"] - 1))


def alipay_unknown_order(f: Fakes, r: Runtime, p: dict[str, Any]) -> Any:
    return alipay_form(f.alipay.paid_notification("P00000000000000000000000000000", p["amount"]))


# -- WeChat Pay ---------------------------------------------------------------------------------


def wechat_event(fake: FakeWechatPay, resource: dict[str, Any], **sign: Any) -> Any:
    event = {
        "id": "EV-forged",
        "event_type": "TRANSACTION.SUCCESS",
        "resource": resource,
        "resource_type": "encrypt-resource",
    }
    body = json.dumps(event)
    return {**fake.signed_headers(body, **sign), "Content-Type": "application/json"}, body


def wechat_signed_by_stranger(f: Fakes, r: Runtime, p: dict[str, Any]) -> Any:
    real = f.wechat.platform
    f.wechat.platform = key_pair("forger")
    try:
        return f.wechat.paid_notification(p["out_trade_no"], p["amount"])
    finally:
        f.wechat.platform = real


def wechat_body_changed(f: Fakes, r: Runtime, p: dict[str, Any]) -> Any:
    headers, body = f.wechat.paid_notification(p["out_trade_no"], p["amount"])
    return headers, one_byte_changed(body, '"EV-', '"EW-')


def wechat_stale(f: Fakes, r: Runtime, p: dict[str, Any]) -> Any:
    resource = f.wechat.encrypt(f.wechat.transaction(p["out_trade_no"], p["amount"]))
    return wechat_event(f.wechat, resource, timestamp=int(time.time()) - 301)


def wechat_wrong_serial(f: Fakes, r: Runtime, p: dict[str, Any]) -> Any:
    headers, body = f.wechat.paid_notification(p["out_trade_no"], p["amount"])
    return {**headers, "Wechatpay-Serial": "PUB_KEY_ID_0119000000019999"}, body


def wechat_signtest_probe(f: Fakes, r: Runtime, p: dict[str, Any]) -> Any:
    headers, body = f.wechat.paid_notification(p["out_trade_no"], p["amount"])
    return {**headers, "Wechatpay-Signature": "WECHATPAY/SIGNTEST/" + "A" * 64}, body


def wechat_gcm_tag_tampered(f: Fakes, r: Runtime, p: dict[str, Any]) -> Any:
    resource = f.wechat.encrypt(f.wechat.transaction(p["out_trade_no"], p["amount"]))
    raw = bytearray(base64.b64decode(resource["ciphertext"]))
    raw[-1] ^= 0x01  # the last 16 bytes are the tag
    resource["ciphertext"] = base64.b64encode(bytes(raw)).decode()
    return wechat_event(f.wechat, resource)  # a valid signature over a broken resource


def wechat_wrong_amount(f: Fakes, r: Runtime, p: dict[str, Any]) -> Any:
    return f.wechat.paid_notification(p["out_trade_no"], p["amount"] + 1)


def wechat_other_app(f: Fakes, r: Runtime, p: dict[str, Any]) -> Any:
    return f.wechat.paid_notification(p["out_trade_no"], p["amount"], appid="wx-other")


def wechat_other_merchant(f: Fakes, r: Runtime, p: dict[str, Any]) -> Any:
    return f.wechat.paid_notification(p["out_trade_no"], p["amount"], mchid="1900009999")


def wechat_unknown_order(f: Fakes, r: Runtime, p: dict[str, Any]) -> Any:
    return f.wechat.paid_notification("P00000000000000000000000000000", p["amount"])


# -- Stripe and sandbox -------------------------------------------------------------------------


def stripe_bad_secret(f: Fakes, r: Runtime, p: dict[str, Any]) -> Any:
    real = f.stripe.webhook_secret
    f.stripe.webhook_secret = "whsec_forger"
    try:
        return f.stripe.paid_event(p["out_trade_no"], p["amount"])
    finally:
        f.stripe.webhook_secret = real


def stripe_body_changed(f: Fakes, r: Runtime, p: dict[str, Any]) -> Any:
    headers, body = f.stripe.paid_event(p["out_trade_no"], p["amount"])
    return headers, one_byte_changed(body, '"amount": 600', '"amount": 700')


def stripe_stale(f: Fakes, r: Runtime, p: dict[str, Any]) -> Any:
    return f.stripe.event("payment_intent.succeeded", {}, timestamp=int(time.time()) - 301)


def stripe_wrong_amount(f: Fakes, r: Runtime, p: dict[str, Any]) -> Any:
    return f.stripe.paid_event(p["out_trade_no"], p["amount"] - 100)


def stripe_wrong_currency(f: Fakes, r: Runtime, p: dict[str, Any]) -> Any:
    return f.stripe.paid_event(p["out_trade_no"], p["amount"], currency="usd")


def stripe_unknown_order(f: Fakes, r: Runtime, p: dict[str, Any]) -> Any:
    return f.stripe.paid_event("P00000000000000000000000000000", p["amount"])


def stripe_created(created: Any) -> Forgery:
    """A validly signed paid event whose `created` is not a Unix time Stripe would send."""

    def forge(f: Fakes, r: Runtime, p: dict[str, Any]) -> Any:
        return f.stripe.paid_event(p["out_trade_no"], p["amount"], fields={"created": created})

    forge.__name__ = f"stripe_created_{created!r}"
    return forge


def stripe_not_an_object(f: Fakes, r: Runtime, p: dict[str, Any]) -> Any:
    return f.stripe.paid_event(p["out_trade_no"], p["amount"], fields={"data": ["x"]})


def sandbox_bad_signature(f: Fakes, r: Runtime, p: dict[str, Any]) -> Any:
    body = sandbox(r).paid_callback(p["out_trade_no"], p["amount"])
    return {**sandbox(r).sign(body), "X-Sandbox-Signature": "0" * 64}, body


def sandbox_stale(f: Fakes, r: Runtime, p: dict[str, Any]) -> Any:
    body = sandbox(r).paid_callback(p["out_trade_no"], p["amount"])
    return sandbox(r).sign(body, timestamp=int(time.time()) - 301), body


def sandbox_non_ascii_signature(f: Fakes, r: Runtime, p: dict[str, Any]) -> Any:
    body = sandbox(r).paid_callback(p["out_trade_no"], p["amount"])
    return {**sandbox(r).sign(body), "X-Sandbox-Signature": "é" * 64}, body


def sandbox_non_ascii_timestamp(f: Fakes, r: Runtime, p: dict[str, Any]) -> Any:
    body = sandbox(r).paid_callback(p["out_trade_no"], p["amount"])
    return {**sandbox(r).sign(body), "X-Sandbox-Timestamp": "²" * 10}, body


CASES: list[tuple[str, Forgery]] = [
    ("alipay", alipay_signed_by_stranger),
    ("alipay", alipay_body_changed),
    ("alipay", alipay_other_app),
    ("alipay", alipay_other_seller),
    ("alipay", alipay_wrong_amount),
    ("alipay", alipay_unknown_order),
    ("wechat", wechat_signed_by_stranger),
    ("wechat", wechat_body_changed),
    ("wechat", wechat_stale),
    ("wechat", wechat_wrong_serial),
    ("wechat", wechat_signtest_probe),
    ("wechat", wechat_gcm_tag_tampered),
    ("wechat", wechat_wrong_amount),
    ("wechat", wechat_other_app),
    ("wechat", wechat_other_merchant),
    ("wechat", wechat_unknown_order),
    ("stripe", stripe_bad_secret),
    ("stripe", stripe_body_changed),
    ("stripe", stripe_stale),
    ("stripe", stripe_wrong_amount),
    ("stripe", stripe_wrong_currency),
    ("stripe", stripe_unknown_order),
    ("stripe", stripe_created("1700000000")),
    ("stripe", stripe_created(1700000000.5)),
    ("stripe", stripe_created(10**30)),
    ("stripe", stripe_created(2**62)),
    ("stripe", stripe_created(-1)),
    ("stripe", stripe_created(None)),
    ("stripe", stripe_created(True)),
    ("stripe", stripe_not_an_object),
    ("sandbox", sandbox_bad_signature),
    ("sandbox", sandbox_stale),
    ("sandbox", sandbox_non_ascii_signature),
    ("sandbox", sandbox_non_ascii_timestamp),
]


def refused_in_provider_format(provider: str, status: int, text: str) -> bool:
    if not 400 <= status < 500:
        return False
    if provider == "alipay":
        return text == "fail"
    if provider == "wechat":
        body = json.loads(text)
        return body["code"] == "FAIL" and bool(body["message"])
    return True


@pytest.mark.parametrize("provider", ["alipay", "wechat", "stripe", "sandbox"])
async def test_forged_callbacks_change_nothing(
    api: TestClient, buyer: Person, fakes: Fakes, runtime: Runtime, provider: str
) -> None:
    order = await pending_order(api, buyer)
    payment = await open_payment(api, buyer, order["id"], provider)
    forgeries = [forge for name, forge in CASES if name == provider]
    assert forgeries
    for forge in forgeries:
        headers, body = forge(fakes, runtime, payment)
        response = await deliver(api, provider, headers, body)
        text = await response.text()
        assert refused_in_provider_format(provider, response.status, text), (forge.__name__, text)
        state = await snapshot(runtime, order["id"])
        assert state.order_status == "pending_payment", forge.__name__
        assert state.payments == ["created"], forge.__name__
        assert (state.events, state.payment_postings, state.paid_notifications) == (0, 0, 0)


async def test_a_reused_wechat_nonce_with_another_body_is_refused(
    api: TestClient, buyer: Person, fakes: Fakes, runtime: Runtime
) -> None:
    order = await pending_order(api, buyer)
    payment = await open_payment(api, buyer, order["id"], "wechat")
    probe_headers, probe_body = fakes.wechat.notification("TRANSACTION.CLOSED", {})
    first = await deliver(api, "wechat", probe_headers, probe_body)
    assert first.status == 400  # an empty resource: refused, but its nonce is now taken
    headers, body = fakes.wechat.paid_notification(payment["out_trade_no"], payment["amount"])
    nonce = probe_headers["Wechatpay-Nonce"]
    stamp = headers["Wechatpay-Timestamp"]
    signature = fakes.wechat.platform.sign(f"{stamp}\n{nonce}\n{body}\n")
    replay = {
        **headers,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Signature": base64.b64encode(signature).decode(),
    }
    response = await deliver(api, "wechat", replay, body)
    assert response.status == 401 and json.loads(await response.text())["code"] == "FAIL"
    assert (await snapshot(runtime, order["id"])).payments == ["created"]


async def test_unknown_gateway_is_404(api: TestClient) -> None:
    response = await api.post("/api/v1/payments/paypal/notify", data=b"{}")
    assert response.status == 422


async def test_a_signed_stripe_event_with_a_malformed_created_is_refused_and_logged(
    api: TestClient, buyer: Person, fakes: Fakes, runtime: Runtime
) -> None:
    order = await pending_order(api, buyer)
    payment = await open_payment(api, buyer, order["id"], "stripe")
    headers, body = fakes.stripe.paid_event(
        payment["out_trade_no"], payment["amount"], fields={"created": "yesterday"}
    )
    with capture_logs() as logs:
        response = await deliver(api, "stripe", headers, body)
    assert response.status == 400
    refused = [e for e in logs if e["event"] == "payments.callback_rejected"]
    assert refused == [
        {
            "event": "payments.callback_rejected",
            "log_level": "warning",
            "provider": "stripe",
            "reason": "malformed created",
        }
    ]
    assert (await snapshot(runtime, order["id"])).payments == ["created"]
