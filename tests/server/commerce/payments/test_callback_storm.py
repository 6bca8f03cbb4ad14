"""QUALITY 3: each provider's "paid" event delivered 10x, concurrently and out of order -> the
order is paid once, with one ledger transaction and one notification."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

import pytest
from aiohttp.test_utils import TestClient

from server.commerce.payments import followup
from server.runtime import Runtime
from tests.helpers.env import on_both_engines
from tests.helpers.payments import (
    TAKEN,
    Delivery,
    Fakes,
    alipay_form,
    deliver,
    open_payment,
    paid_callback,
    pending_order,
    snapshot,
)
from tests.helpers.people import Person


def alipay_storm(fakes: Fakes, runtime: Runtime, payment: dict) -> list[Delivery]:
    no, amount = payment["out_trade_no"], payment["amount"]
    same = alipay_form(fakes.alipay.pay(no))
    # Alipay's retries carry new notify ids; a closing notice may overtake the payment one.
    others = [alipay_form(fakes.alipay.paid_notification(no, amount)) for _ in range(4)]
    closed = alipay_form(fakes.alipay.paid_notification(no, amount, trade_status="TRADE_FINISHED"))
    return [same] * 5 + others + [closed]


def wechat_storm(fakes: Fakes, runtime: Runtime, payment: dict) -> list[Delivery]:
    no = payment["out_trade_no"]
    same = fakes.wechat.pay(no)
    resent = fakes.wechat.paid_notification(no, payment["amount"])
    closed = fakes.wechat.notification(
        "TRANSACTION.CLOSED",
        {**fakes.wechat.transaction(no, payment["amount"]), "trade_state": "CLOSED"},
    )
    return [same] * 7 + [resent, resent, closed]


def stripe_storm(fakes: Fakes, runtime: Runtime, payment: dict) -> list[Delivery]:
    intent = next(iter(fakes.stripe.intents))
    same = fakes.stripe.succeed(intent)
    other = fakes.stripe.event("charge.succeeded", {"id": "ch_1", "payment_intent": intent})
    return [same] * 9 + [other]


def sandbox_storm(fakes: Fakes, runtime: Runtime, payment: dict) -> list[Delivery]:
    return [paid_callback(fakes, runtime, "sandbox", payment)] * 10


STORMS: dict[str, Callable[[Fakes, Runtime, dict], list[Delivery]]] = {
    "alipay": alipay_storm,
    "wechat": wechat_storm,
    "stripe": stripe_storm,
    "sandbox": sandbox_storm,
}


@on_both_engines
@pytest.mark.parametrize("provider", list(STORMS))
async def test_a_paid_event_storm_pays_once(
    api: TestClient, buyer: Person, fakes: Fakes, runtime: Runtime, provider: str
) -> None:
    order = await pending_order(api, buyer)
    payment = await open_payment(api, buyer, order["id"], provider)
    deliveries = STORMS[provider](fakes, runtime, payment)
    random.Random(7).shuffle(deliveries)

    async def one(headers: dict[str, str], body: str | bytes) -> tuple[int, str]:
        response = await deliver(api, provider, headers, body)
        return response.status, await response.text()

    runs: list[Awaitable[object]] = [one(h, b) for h, b in deliveries]
    # The query fallback races the callbacks too.
    runs.append(followup.query_payment(runtime, payment_id=payment["id"]))
    answers = await asyncio.gather(*runs)
    for status, text in answers[:-1]:  # type: ignore[misc]
        assert TAKEN[provider](status, text), (status, text)

    state = await snapshot(runtime, order["id"])
    assert state.order_status in ("paid", "fulfilled")
    assert state.payments == ["succeeded"]
    assert state.payment_postings == 1
    assert state.paid_notifications == 1
    assert state.refunds == []
