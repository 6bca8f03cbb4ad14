"""Paying an order: each gateway gives the client what it needs; only the buyer, only pending."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from server.runtime import Runtime
from server.settings import Settings
from tests.helpers.env import AppClient, make_settings
from tests.helpers.payments import (
    SANDBOX_SECRET,
    Fakes,
    deliver,
    open_payment,
    pending_order,
    sandbox,
    snapshot,
)
from tests.helpers.people import Person, call, person


async def test_each_gateway_answers_what_its_client_needs(
    api: TestClient, buyer: Person, fakes: Fakes
) -> None:
    order = await pending_order(api, buyer, price=990)
    alipay = await open_payment(api, buyer, order["id"], "alipay")
    assert alipay["client"]["qr_code"].startswith("https://qr.alipay.com/")
    assert alipay["client"]["page_url"].startswith(fakes.alipay.base_url)
    assert fakes.alipay.trades[alipay["out_trade_no"]]["amount"] == 990
    wechat = await open_payment(api, buyer, order["id"], "wechat")
    assert wechat["client"]["code_url"].startswith("weixin://wxpay/bizpayurl")
    stripe = await open_payment(api, buyer, order["id"], "stripe")
    assert "_secret_" in stripe["client"]["client_secret"]
    assert "provider_txn_id" not in stripe["client"]
    box = await open_payment(api, buyer, order["id"], "sandbox")
    assert box["client"]["pay_url"].endswith(f"/payments/sandbox/{box['out_trade_no']}/pay")
    assert {alipay["amount"], wechat["amount"], stripe["amount"]} == {990}


async def test_the_sandbox_pay_url_points_at_the_port_the_server_listens_on(
    make_client: AppClient, database_url: str
) -> None:
    """No PUBLIC_BASE_URL set: links follow `serve --port`, not a fixed 8080."""
    settings = make_settings(
        database_url=database_url, port=9123, payment_sandbox_secret=SANDBOX_SECRET
    )
    api = await make_client(settings)
    buyer = await person(api)
    order = await pending_order(api, buyer)
    box = await open_payment(api, buyer, order["id"], "sandbox")
    assert box["client"]["pay_url"] == (
        f"http://127.0.0.1:9123/api/v1/payments/sandbox/{box['out_trade_no']}/pay"
    )


async def test_asking_again_reopens_the_same_payment(
    api: TestClient, buyer: Person, fakes: Fakes
) -> None:
    order = await pending_order(api, buyer)
    first = await open_payment(api, buyer, order["id"], "wechat")
    again = await open_payment(api, buyer, order["id"], "wechat")
    assert again["id"] == first["id"] and again["client"] == first["client"]
    assert len(fakes.wechat.calls_to("/v3/pay/transactions/native")) == 1


async def test_only_the_buyer_pays_and_only_a_pending_order(
    api: TestClient, buyer: Person, runtime: Runtime
) -> None:
    order = await pending_order(api, buyer)
    stranger = await person(api)
    await open_payment(api, stranger, order["id"], "alipay", status=404)
    await open_payment(api, buyer, 10**12, "alipay", status=404)
    await call(api, "POST", f"/orders/{order['id']}/cancel", buyer, 200)
    body = await open_payment(api, buyer, order["id"], "alipay", status=409)
    assert body["error"]["code"] == "payments.not_payable"


async def test_a_gateway_that_is_down_answers_503_and_a_retry_works(
    api: TestClient, buyer: Person, fakes: Fakes
) -> None:
    order = await pending_order(api, buyer)
    fakes.alipay.fail_next = 1
    body = await open_payment(api, buyer, order["id"], "alipay", status=503)
    assert body["error"]["code"] == "payments.gateway_unavailable"
    retried = await open_payment(api, buyer, order["id"], "alipay")
    assert retried["client"]["qr_code"]


async def test_unknown_provider_is_a_validation_error(api: TestClient, buyer: Person) -> None:
    order = await pending_order(api, buyer)
    await open_payment(api, buyer, order["id"], "paypal", status=422)


async def test_sandbox_callback_pays_the_order(
    api: TestClient, buyer: Person, runtime: Runtime
) -> None:
    order = await pending_order(api, buyer)
    payment = await open_payment(api, buyer, order["id"], "sandbox")
    gateway = sandbox(runtime)
    body = gateway.paid_callback(payment["out_trade_no"], payment["amount"])
    response = await deliver(api, "sandbox", gateway.sign(body), body)
    assert response.status == 200, await response.text()
    state = await snapshot(runtime, order["id"])
    assert state.order_status in ("paid", "fulfilled")
    assert state.payments == ["succeeded"] and state.payment_postings == 1


async def test_sandbox_page_pays_through_a_signed_callback(
    api: TestClient, buyer: Person, runtime: Runtime
) -> None:
    order = await pending_order(api, buyer)
    payment = await open_payment(api, buyer, order["id"], "sandbox")
    path = f"/api/v1/payments/sandbox/{payment['out_trade_no']}/pay"
    page = await api.get(path)
    assert page.status == 200 and page.content_type == "text/html"
    assert payment["out_trade_no"] in await page.text()
    for _ in range(2):
        answer = await api.post(path)
        assert (answer.status, (await answer.json())["outcome"]) == (200, "taken")
    state = await snapshot(runtime, order["id"])
    assert state.payment_postings == 1 and state.events == 1
    assert (await api.get("/api/v1/payments/sandbox/P0000/pay")).status == 404


async def test_sandbox_is_off_when_disabled(make_client: AppClient, pay_settings: Settings) -> None:
    off = pay_settings.model_copy(update={"payment_sandbox_enabled": False})
    client = await make_client(off)
    buyer = await person(client)
    order = await pending_order(client, buyer)
    body = await open_payment(client, buyer, order["id"], "sandbox", status=422)
    assert body["error"]["code"] == "payments.provider_unavailable"
    assert (await client.post("/api/v1/payments/sandbox/notify", data=b"{}")).status == 404
