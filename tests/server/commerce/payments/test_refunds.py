"""Refunds: asked by the buyer within the window or by an admin, carried out by a job at the
gateway, settled by its answer or callback; money the order never took goes back by itself."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from arq.worker import Retry
from sqlalchemy import select, update

from jobs import payments as jobs
from models.commerce.orders import Order
from models.commerce.payments import Refund
from server.keys import RUNTIME
from server.runtime import Runtime
from tests.helpers.orders import checkout, deliver_paid, product
from tests.helpers.payments import (
    Fakes,
    alipay_form,
    deliver,
    open_payment,
    paid_callback,
    pending_order,
    snapshot,
)
from tests.helpers.people import Person, call, person


async def paid_order(
    api: TestClient, buyer: Person, fakes: Fakes, provider: str, price: int = 600
) -> tuple[dict[str, Any], dict[str, Any]]:
    order = await pending_order(api, buyer, price=price)
    payment = await open_payment(api, buyer, order["id"], provider)
    headers, body = paid_callback(fakes, api.app[RUNTIME], provider, payment)
    assert (await deliver(api, provider, headers, body)).status == 200
    await deliver_paid(api.app[RUNTIME])
    return order, payment


async def run_refund_job(runtime: Runtime, refund_id: int, job_try: int = 1) -> Any:
    return await jobs.refund({"runtime": runtime, "job_try": job_try}, refund_id=refund_id)


async def ask(api: TestClient, who: Person, order_id: int, status: int = 201, **body: Any) -> Any:
    return await call(api, "POST", f"/orders/{order_id}/refunds", who, status, json=body)


async def test_buyer_refund_through_wechat_settles_on_the_callback(
    api: TestClient, buyer: Person, fakes: Fakes, runtime: Runtime
) -> None:
    order, _ = await paid_order(api, buyer, fakes, "wechat")
    refund = await ask(api, buyer, order["id"], reason="不想要了")
    assert (refund["status"], refund["amount"]) == ("pending", 600)
    assert (await snapshot(runtime, order["id"])).order_status == "refunding"
    with pytest.raises(Retry):  # WeChat is still processing: ask again later
        await run_refund_job(runtime, refund["id"])
    asked = fakes.wechat.calls_to("/v3/refund/domestic/refunds")[-1].body
    assert asked["notify_url"].endswith("/api/v1/payments/wechat/notify")
    sent = fakes.wechat.refunds[refund["out_refund_no"]]
    assert sent["amount"] == {"refund": 600, "total": 600, "currency": "CNY"}
    resource = {**sent, "mchid": fakes.wechat.mchid, "refund_status": "SUCCESS"}
    headers, body = fakes.wechat.notification("REFUND.SUCCESS", resource)
    for _ in range(2):
        answer = await deliver(api, "wechat", headers, body)
        assert answer.status == 200
    state = await snapshot(runtime, order["id"])
    assert state.order_status == "refunded"
    assert state.refunds == [("order", "succeeded", 600)]
    assert await run_refund_job(runtime, refund["id"], job_try=2) == "succeeded"


async def test_admin_partial_refund_through_alipay(
    api: TestClient, buyer: Person, admin: Person, fakes: Fakes, runtime: Runtime
) -> None:
    order, _ = await paid_order(api, buyer, fakes, "alipay", price=1000)
    refund = await ask(api, admin, order["id"], amount=300, reason="部分退款")
    assert await run_refund_job(runtime, refund["id"]) == "succeeded"
    assert await run_refund_job(runtime, refund["id"]) == "succeeded"  # a rerun changes nothing
    assert fakes.alipay.refunds[refund["out_refund_no"]]["amount"] == 300
    state = await snapshot(runtime, order["id"])
    assert state.order_status == "partially_refunded"
    rest = await ask(api, buyer, order["id"])
    assert rest["amount"] == 700


async def test_refund_rules(api: TestClient, buyer: Person, fakes: Fakes, runtime: Runtime) -> None:
    order, _ = await paid_order(api, buyer, fakes, "alipay")
    stranger = await person(api)
    await ask(api, stranger, order["id"], status=404)
    too_much = await ask(api, buyer, order["id"], status=422, amount=601)
    assert too_much["error"]["code"] == "orders.refund_too_large"
    await ask(api, buyer, order["id"], status=422, amount=0)
    async with runtime.db.unit_of_work() as uow:
        await uow.session.execute(
            update(Order)
            .where(Order.id == order["id"])
            .values(paid_at=runtime.clock.now() - timedelta(days=8))
        )
    late = await ask(api, buyer, order["id"], status=409)
    assert late["error"]["code"] == "payments.refund_not_allowed"
    unpaid = await pending_order(api, buyer)
    await ask(api, buyer, unpaid["id"], status=409)
    assert (await snapshot(runtime, order["id"])).refunds == []


async def test_one_refund_at_a_time(api: TestClient, buyer: Person, fakes: Fakes) -> None:
    order, _ = await paid_order(api, buyer, fakes, "alipay")
    await ask(api, buyer, order["id"], amount=100)
    again = await ask(api, buyer, order["id"], status=409, amount=100)
    assert again["error"]["code"] == "orders.illegal_transition"


async def test_same_idempotency_key_refunds_once(
    api: TestClient, buyer: Person, fakes: Fakes, runtime: Runtime
) -> None:
    order, _ = await paid_order(api, buyer, fakes, "alipay")
    headers = {**buyer.headers, "Idempotency-Key": "refund-1"}
    path = f"/api/v1/orders/{order['id']}/refunds"
    first = await api.post(path, json={"amount": 100}, headers=headers)
    second = await api.post(path, json={"amount": 100}, headers=headers)
    assert first.status == second.status == 201
    assert (await first.json())["id"] == (await second.json())["id"]
    assert len((await snapshot(runtime, order["id"])).refunds) == 1


async def test_a_refused_refund_returns_the_order(
    api: TestClient, buyer: Person, fakes: Fakes, runtime: Runtime
) -> None:
    order, _ = await paid_order(api, buyer, fakes, "stripe")
    before = (await snapshot(runtime, order["id"])).order_status
    refund = await ask(api, buyer, order["id"])

    async def refuse(request: Any, _: dict[str, str]) -> Any:
        from aiohttp import web

        error = {"error": {"type": "invalid_request_error", "code": "charge_already_refunded"}}
        return web.json_response(error, status=400)

    fakes.stripe.on("POST", "/v1/refunds", refuse)
    assert await run_refund_job(runtime, refund["id"]) == "failed"
    state = await snapshot(runtime, order["id"])
    assert state.order_status == before and state.refunds == [("order", "failed", 600)]


async def test_gateway_outage_retries_the_refund_job(
    api: TestClient, buyer: Person, fakes: Fakes, runtime: Runtime
) -> None:
    order, _ = await paid_order(api, buyer, fakes, "alipay")
    refund = await ask(api, buyer, order["id"])
    fakes.alipay.fail_next = 1
    with pytest.raises(Retry):
        await run_refund_job(runtime, refund["id"])
    assert await run_refund_job(runtime, refund["id"], job_try=2) == "succeeded"
    assert (await snapshot(runtime, order["id"])).order_status == "refunded"


async def test_paying_twice_gives_the_second_payment_back(
    api: TestClient, buyer: Person, fakes: Fakes, runtime: Runtime
) -> None:
    order = await pending_order(api, buyer)
    first = await open_payment(api, buyer, order["id"], "alipay")
    second = await open_payment(api, buyer, order["id"], "wechat")
    headers, body = alipay_form(fakes.alipay.pay(first["out_trade_no"]))
    assert (await deliver(api, "alipay", headers, body)).status == 200
    headers, body = fakes.wechat.pay(second["out_trade_no"])
    assert (await deliver(api, "wechat", headers, body)).status == 200
    state = await snapshot(runtime, order["id"])
    assert state.payments == ["succeeded", "succeeded"] and state.payment_postings == 1
    assert state.refunds == [("unclaimed", "pending", 600)]
    async with runtime.db.read() as session:
        refund_id = await session.scalar(select(Refund.id).where(Refund.order_id == order["id"]))
    with pytest.raises(Retry):
        await run_refund_job(runtime, refund_id)
    assert fakes.wechat.refunds  # asked WeChat, the gateway that took the second payment
    state = await snapshot(runtime, order["id"])
    assert state.order_status in ("paid", "fulfilled")


async def test_stripe_dispute_takes_the_purchase_back(
    api: TestClient, buyer: Person, fakes: Fakes, runtime: Runtime
) -> None:
    order, _ = await paid_order(api, buyer, fakes, "stripe")
    intent = next(iter(fakes.stripe.intents))
    dispute = {"id": "dp_1", "object": "dispute", "amount": 600, "payment_intent": intent}
    headers, body = fakes.stripe.event("charge.dispute.created", dispute)
    for _ in range(3):
        assert (await deliver(api, "stripe", headers, body)).status == 200
    state = await snapshot(runtime, order["id"])
    assert state.order_status == "refunded"
    assert state.refunds == [("order", "succeeded", 600)]


async def test_stripe_dashboard_refund_is_applied(
    api: TestClient, buyer: Person, fakes: Fakes, runtime: Runtime
) -> None:
    order, _ = await paid_order(api, buyer, fakes, "stripe")
    intent = next(iter(fakes.stripe.intents))
    refund = {
        "id": "re_dash",
        "object": "refund",
        "amount": 200,
        "status": "succeeded",
        "payment_intent": intent,
        "metadata": {},
    }
    headers, body = fakes.stripe.event("refund.updated", refund)
    assert (await deliver(api, "stripe", headers, body)).status == 200
    state = await snapshot(runtime, order["id"])
    assert state.order_status == "partially_refunded"


async def test_paid_after_cancellation_with_the_stock_gone_is_given_back(
    api: TestClient, buyer: Person, fakes: Fakes, runtime: Runtime
) -> None:
    book = await product(api, kind="physical", title="纸质书", price=600, credits=None, stock=1)
    order = await checkout(api, buyer, [(book, 1)])
    payment = await open_payment(api, buyer, order["id"], "alipay")
    await call(api, "POST", f"/orders/{order['id']}/cancel", buyer, 200)  # the timeout, say
    rival = await person(api)
    await checkout(api, rival, [(book, 1)])  # takes the last copy
    headers, body = alipay_form(fakes.alipay.pay(payment["out_trade_no"]))
    assert (await deliver(api, "alipay", headers, body)).status == 200
    state = await snapshot(runtime, order["id"])
    assert state.order_status == "cancelled" and state.payment_postings == 0
    assert state.refunds == [("unclaimed", "pending", 600)]
    async with runtime.db.read() as session:
        refund_id = await session.scalar(select(Refund.id).where(Refund.order_id == order["id"]))
    assert await run_refund_job(runtime, refund_id) == "succeeded"
    assert (await snapshot(runtime, order["id"])).order_status == "cancelled"
    assert len(fakes.alipay.refunds) == 1
