"""Each gateway on its own against its fake: states it reports, refunds, bills, odd callbacks."""

from __future__ import annotations

import io
import zipfile
from datetime import date
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import web

from server.commerce.payments.errors import CallbackRejected
from server.commerce.payments.gateways.alipay import AlipayGateway, parse_bill
from server.commerce.payments.gateways.base import Callback, Refunding
from server.commerce.payments.gateways.sandbox import SandboxGateway
from server.commerce.payments.gateways.stripe import StripeGateway
from server.commerce.payments.gateways.wechat import WechatGateway
from server.commerce.payments.nonces import NonceBook
from server.gateway_clients.alipay import AlipayClient
from server.gateway_clients.errors import GatewayUnavailable
from server.gateway_clients.wechat import WechatPayClient
from tests.fakes.alipay import FakeAlipay
from tests.fakes.base import start
from tests.fakes.stripe import SECRET_KEY, FakeStripe
from tests.fakes.wechat import FakeWechatPay
from tests.helpers.env import make_settings

DAY = date(2026, 12, 1)


def refunding(**fields: Any) -> Refunding:
    values: dict[str, Any] = {
        "out_trade_no": "P1",
        "out_refund_no": "R1",
        "provider_txn_id": None,
        "amount": 100,
        "total": 600,
        "currency": "CNY",
        "reason": "test",
    }
    return Refunding(**{**values, **fields})


@pytest.fixture
async def alipay(aiohttp_server: Any) -> tuple[FakeAlipay, AlipayGateway]:
    fake = FakeAlipay()
    await start(fake, aiohttp_server)
    client = AlipayClient.from_settings(make_settings(**fake.settings()))
    assert client is not None
    return fake, AlipayGateway(client, seller_id=fake.seller_id)


@pytest.fixture
async def wechat(aiohttp_server: Any) -> tuple[FakeWechatPay, WechatGateway]:
    fake = FakeWechatPay()
    await start(fake, aiohttp_server)
    settings = make_settings(**fake.settings())
    client = WechatPayClient.from_settings(settings)
    assert client is not None
    return fake, WechatGateway(client, NonceBook(None, settings))


@pytest.fixture
async def stripe(aiohttp_server: Any) -> tuple[FakeStripe, StripeGateway]:
    fake = FakeStripe()
    await start(fake, aiohttp_server)
    gateway = StripeGateway(
        secret_key=SECRET_KEY,
        webhook_secret=fake.webhook_secret,
        api_url=fake.base_url,
        timeout=5,
        tolerance_seconds=300,
    )
    return fake, gateway


async def test_alipay_reports_each_trade_state(alipay: tuple[FakeAlipay, AlipayGateway]) -> None:
    fake, gateway = alipay
    assert (await gateway.query(out_trade_no="P1", provider_txn_id=None)).status == "missing"
    fake.trades["P1"] = {"trade_no": "T1", "amount": 600, "trade_status": "WAIT_BUYER_PAY"}
    assert (await gateway.query(out_trade_no="P1", provider_txn_id=None)).status == "pending"
    fake.trades["P1"]["trade_status"] = "TRADE_CLOSED"
    assert (await gateway.query(out_trade_no="P1", provider_txn_id=None)).status == "closed"
    fake.trades["P1"]["trade_status"] = "TRADE_SUCCESS"
    paid = await gateway.query(out_trade_no="P1", provider_txn_id=None)
    assert (paid.status, paid.amount, paid.provider_txn_id) == ("succeeded", 600, "T1")


async def test_alipay_refunds(alipay: tuple[FakeAlipay, AlipayGateway]) -> None:
    fake, gateway = alipay
    assert (await gateway.refund(refunding())).status == "failed"  # no such trade
    assert (await gateway.query_refund(refunding())).status == "failed"
    fake.trades["P1"] = {"trade_no": "T1", "amount": 600, "trade_status": "TRADE_SUCCESS"}
    assert (await gateway.refund(refunding())).status == "succeeded"
    assert (await gateway.query_refund(refunding())).status == "succeeded"
    fake.on_method(
        "alipay.trade.refund",
        lambda biz: {
            "code": "20000",
            "msg": "Service Currently Unavailable",
            "sub_code": "ACQ.SYSTEM_ERROR",
        },
    )
    with pytest.raises(GatewayUnavailable):
        await gateway.refund(refunding(out_refund_no="R2"))


async def test_alipay_refund_and_other_notifications(
    alipay: tuple[FakeAlipay, AlipayGateway],
) -> None:
    fake, gateway = alipay
    refund = fake.sign_params(
        {
            "app_id": fake.app_id,
            "seller_id": fake.seller_id,
            "trade_no": "T1",
            "out_trade_no": "P1",
            "out_biz_no": "R1",
            "refund_fee": "1.00",
            "trade_status": "TRADE_SUCCESS",
        }
    )
    notice = await gateway.verify(Callback(urlencode(refund).encode(), {}))
    assert (notice.kind, notice.out_refund_no, notice.refund_amount) == (
        "refund.succeeded",
        "R1",
        100,
    )
    waiting = fake.sign_params(
        {
            "app_id": fake.app_id,
            "seller_id": fake.seller_id,
            "trade_no": "T1",
            "trade_status": "WAIT_BUYER_PAY",
        }
    )
    assert (await gateway.verify(Callback(urlencode(waiting).encode(), {}))).kind == "ignored"


def test_alipay_bill_lists_payments_and_refunds() -> None:
    header = "支付宝交易号,商户订单号,业务类型,订单金额（元）,退款批次号/请求号"
    rows = [
        "#明细",
        header,
        "T1,P1,交易,6.00,",
        "T1,P1,退款,-1.00,R1",
        "T2,P2,其他,1.00,",
        "T3,P3,交易,oops,",
    ]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("x_业务明细.csv", "\n".join(rows).encode("gbk"))
        archive.writestr("x_业务明细(汇总).csv", "ignored".encode("gbk"))
    lines = parse_bill(buffer.getvalue())
    assert [(b.kind, b.reference, b.amount) for b in lines] == [
        ("payment", "P1", 600),
        ("refund", "R1", 100),
    ]


async def test_wechat_reports_each_trade_state(
    wechat: tuple[FakeWechatPay, WechatGateway],
) -> None:
    fake, gateway = wechat
    assert (await gateway.query(out_trade_no="P1", provider_txn_id=None)).status == "missing"
    fake.trades["P1"] = {"transaction_id": "4200", "amount": 600, "trade_state": "NOTPAY"}
    assert (await gateway.query(out_trade_no="P1", provider_txn_id=None)).status == "pending"
    fake.trades["P1"]["trade_state"] = "CLOSED"
    assert (await gateway.query(out_trade_no="P1", provider_txn_id=None)).status == "closed"
    fake.trades["P1"]["trade_state"] = "SUCCESS"
    assert (await gateway.query(out_trade_no="P1", provider_txn_id=None)).amount == 600


async def test_wechat_refunds(wechat: tuple[FakeWechatPay, WechatGateway]) -> None:
    fake, gateway = wechat
    assert (await gateway.refund(refunding())).status == "failed"
    assert (await gateway.query_refund(refunding())).status == "failed"
    fake.trades["P1"] = {"transaction_id": "4200", "amount": 600, "trade_state": "SUCCESS"}
    assert (await gateway.refund(refunding())).status == "processing"
    fake.refunds["R1"]["status"] = "SUCCESS"
    assert (await gateway.query_refund(refunding())).status == "succeeded"

    async def busy(request: web.Request, _: dict[str, str]) -> web.StreamResponse:
        return fake.error("SYSTEM_ERROR", "系统繁忙", status=429)

    fake.on("POST", "/v3/refund/domestic/refunds", busy)
    fake.on("GET", r"/v3/refund/domestic/refunds/(?P<no>[^/]+)", busy)
    with pytest.raises(GatewayUnavailable):
        await gateway.refund(refunding())
    with pytest.raises(GatewayUnavailable):
        await gateway.query_refund(refunding())


async def test_wechat_refund_and_other_callbacks(
    wechat: tuple[FakeWechatPay, WechatGateway],
) -> None:
    fake, gateway = wechat
    headers, body = fake.notification(
        "REFUND.ABNORMAL",
        {
            "mchid": fake.mchid,
            "out_trade_no": "P1",
            "out_refund_no": "R1",
            "refund_id": "50",
            "amount": {"refund": 100},
        },
    )
    notice = await gateway.verify(Callback(body.encode(), headers))
    assert (notice.kind, notice.out_refund_no) == ("refund.failed", "R1")
    headers, body = fake.notification("REFUND.SUCCESS", {"mchid": "other", "out_refund_no": "R"})
    with pytest.raises(CallbackRejected):
        await gateway.verify(Callback(body.encode(), headers))
    headers, body = fake.notification(
        "TRANSACTION.SUCCESS", {**fake.transaction("P1", 600), "trade_state": "REFUND"}
    )
    assert (await gateway.verify(Callback(body.encode(), headers))).kind == "ignored"
    broken = "not json"
    with pytest.raises(CallbackRejected):
        await gateway.verify(Callback(broken.encode(), fake.signed_headers(broken)))


async def test_wechat_bill(wechat: tuple[FakeWechatPay, WechatGateway]) -> None:
    fake, gateway = wechat
    fake.add_bill_row(DAY.isoformat(), transaction_id="4200", out_trade_no="P1", amount=600)
    fake.add_bill_row(
        DAY.isoformat(),
        transaction_id="4200",
        out_trade_no="P1",
        amount=600,
        refund_id="50",
        out_refund_no="R1",
        refund_amount=100,
    )
    lines = await gateway.bill(DAY)
    assert lines is not None
    assert [(b.kind, b.reference, b.amount) for b in lines] == [
        ("payment", "P1", 600),
        ("refund", "R1", 100),
    ]

    async def wrong_hash(request: web.Request, _: dict[str, str]) -> web.StreamResponse:
        return fake.answer(
            {
                "hash_type": "SHA1",
                "hash_value": "0" * 40,
                "download_url": f"{fake.base_url}/bill-files/{DAY}",
            }
        )

    fake.on("GET", "/v3/bill/tradebill", wrong_hash)
    with pytest.raises(GatewayUnavailable):
        await gateway.bill(DAY)


async def test_stripe_states_and_refunds(stripe: tuple[FakeStripe, StripeGateway]) -> None:
    fake, gateway = stripe
    assert (await gateway.query(out_trade_no="P1", provider_txn_id=None)).status == "missing"
    assert (await gateway.query(out_trade_no="P1", provider_txn_id="pi_x")).status == "missing"
    fake.intents["pi_1"] = {"id": "pi_1", "amount": 600, "currency": "cny", "status": "canceled"}
    assert (await gateway.query(out_trade_no="P1", provider_txn_id="pi_1")).status == "closed"
    fake.intents["pi_1"]["status"] = "processing"
    assert (await gateway.query(out_trade_no="P1", provider_txn_id="pi_1")).status == "pending"
    fake.intents["pi_1"].update(status="succeeded", amount_received=600)
    paid = await gateway.query(out_trade_no="P1", provider_txn_id="pi_1")
    assert (paid.status, paid.amount, paid.currency) == ("succeeded", 600, "CNY")
    refund = refunding(provider_txn_id="pi_1")
    assert (await gateway.refund(refund)).status == "succeeded"
    assert (await gateway.query_refund(refund)).status == "succeeded"  # the same idempotent answer
    assert len(fake.refunds) == 1
    assert await gateway.bill(DAY) is None


async def test_stripe_events_we_do_not_act_on(stripe: tuple[FakeStripe, StripeGateway]) -> None:
    fake, gateway = stripe
    for kind, obj in [("customer.created", {}), ("refund.updated", {"status": "pending"})]:
        headers, body = fake.event(kind, obj)
        assert (await gateway.verify(Callback(body.encode(), headers))).kind == "ignored"
    headers, body = fake.event(
        "refund.failed", {"id": "re_1", "status": "failed", "metadata": {"out_refund_no": "R1"}}
    )
    assert (await gateway.verify(Callback(body.encode(), headers))).kind == "refund.failed"


async def test_sandbox_odd_callbacks() -> None:
    gateway = SandboxGateway(secret=b"s", public_base_url="http://x", tolerance_seconds=300)
    for body in (b"not json", b'{"type": "payment.succeeded"}'):
        with pytest.raises(CallbackRejected):
            await gateway.verify(Callback(body, gateway.sign(body)))
    other = b'{"event_id": "e1", "type": "payment.closed"}'
    assert (await gateway.verify(Callback(other, gateway.sign(other)))).kind == "ignored"
    assert (await gateway.query(out_trade_no="P", provider_txn_id=None)).status == "pending"
    assert (await gateway.query_refund(refunding())).status == "succeeded"


async def test_nonce_book_without_redis_remembers_in_memory() -> None:
    book = NonceBook(None, make_settings())
    assert await book.fresh("wechat", "n1", "a")
    assert await book.fresh("wechat", "n1", "a")
    assert not await book.fresh("wechat", "n1", "b")
