"""The Alipay and WeChat Pay clients sign what the gateways verify and trust only what verifies."""

from __future__ import annotations

import time
from typing import Any

import pytest
from aiohttp import web

from server.gateway_clients.alipay import AlipayClient
from server.gateway_clients.errors import (
    GatewayRejected,
    GatewaySignatureInvalid,
    GatewayUnavailable,
)
from server.gateway_clients.wechat import WechatPayClient
from tests.fakes.alipay import FakeAlipay
from tests.fakes.base import start
from tests.fakes.keys import key_pair
from tests.fakes.wechat import FakeWechatPay
from tests.helpers.env import make_settings


@pytest.fixture
async def wechat(aiohttp_server: Any) -> FakeWechatPay:
    fake = FakeWechatPay()
    await start(fake, aiohttp_server)
    return fake


def alipay_client(fake: FakeAlipay) -> AlipayClient:
    client = AlipayClient.from_settings(make_settings(**fake.settings()))
    assert client is not None
    return client


def wechat_client(fake: FakeWechatPay) -> WechatPayClient:
    client = WechatPayClient.from_settings(make_settings(**fake.settings()))
    assert client is not None
    return client


def test_clients_are_off_without_keys() -> None:
    assert AlipayClient.from_settings(make_settings()) is None
    assert WechatPayClient.from_settings(make_settings()) is None


async def test_alipay_call_is_signed_and_its_answer_verified(alipay: FakeAlipay) -> None:
    client = alipay_client(alipay)
    answer = await client.call(
        "alipay.trade.precreate",
        {"out_trade_no": "P1", "total_amount": "9.90", "subject": "课程"},
        notify_url="https://shop.example/notify",
    )
    assert answer["code"] == "10000" and answer["qr_code"].startswith("https://qr.alipay.com/")
    assert alipay.trades["P1"]["amount"] == 990


async def test_alipay_business_errors_carry_the_sub_code(alipay: FakeAlipay) -> None:
    client = alipay_client(alipay)
    with pytest.raises(GatewayRejected) as caught:
        await client.call("alipay.trade.query", {"out_trade_no": "nope"})
    assert caught.value.code == "ACQ.TRADE_NOT_EXIST"
    answer = await client.call("alipay.trade.query", {"out_trade_no": "nope"}, check=False)
    assert answer["sub_code"] == "ACQ.TRADE_NOT_EXIST"


async def test_alipay_answer_signed_by_another_key_is_refused(alipay: FakeAlipay) -> None:
    client = alipay_client(alipay)
    alipay.platform = key_pair("someone-else")
    with pytest.raises(GatewaySignatureInvalid):
        await client.call("alipay.trade.query", {"out_trade_no": "x"})


async def test_alipay_outage_is_retryable(alipay: FakeAlipay) -> None:
    alipay.fail_next = 1
    with pytest.raises(GatewayUnavailable):
        await alipay_client(alipay).call("alipay.trade.query", {"out_trade_no": "x"})


async def test_alipay_extensions_serve_other_methods(alipay: FakeAlipay) -> None:
    alipay.on_method(
        "alipay.fund.trans.uni.transfer",
        lambda biz: {
            "code": "10000",
            "msg": "Success",
            "order_id": "T1",
            "out_biz_no": biz["out_biz_no"],
            "status": "SUCCESS",
        },
    )
    answer = await alipay_client(alipay).call(
        "alipay.fund.trans.uni.transfer", {"out_biz_no": "W1", "trans_amount": "1.00"}
    )
    assert answer["status"] == "SUCCESS"


def test_alipay_notifications_verify_only_untouched(alipay: FakeAlipay) -> None:
    client = alipay_client(alipay)
    params = alipay.paid_notification("P1", 990)
    assert client.verify_notification(params)
    assert not client.verify_notification({**params, "total_amount": "0.01"})
    assert not client.verify_notification({k: v for k, v in params.items() if k != "sign"})


async def test_wechat_request_is_signed_and_answer_verified(wechat: FakeWechatPay) -> None:
    client = wechat_client(wechat)
    answer = await client.request(
        "POST",
        "/v3/pay/transactions/native",
        body={
            "appid": wechat.app_id,
            "mchid": wechat.mchid,
            "description": "课程",
            "out_trade_no": "P1",
            "notify_url": "https://shop.example/n",
            "amount": {"total": 990},
        },
    )
    assert answer["code_url"].startswith("weixin://")
    auth = wechat.calls[-1].headers["Authorization"]
    assert auth.startswith('WECHATPAY2-SHA256-RSA2048 mchid="1900000001"')
    queried = await client.request(
        "GET", f"/v3/pay/transactions/out-trade-no/P1?mchid={wechat.mchid}"
    )
    assert queried["trade_state"] == "NOTPAY"


async def test_wechat_errors_carry_the_code(wechat: FakeWechatPay) -> None:
    with pytest.raises(GatewayRejected) as caught:
        await wechat_client(wechat).request("GET", "/v3/pay/transactions/out-trade-no/none")
    assert caught.value.code == "ORDER_NOT_EXIST" and caught.value.status == 404


async def test_wechat_answer_with_a_foreign_serial_is_refused(wechat: FakeWechatPay) -> None:
    client = wechat_client(wechat)
    wechat.public_key_id = "PUB_KEY_ID_OTHER"
    with pytest.raises(GatewaySignatureInvalid):
        await client.request(
            "POST",
            "/v3/pay/transactions/native",
            body={"out_trade_no": "P2", "amount": {"total": 1}},
        )


async def test_wechat_extensions_answer_signed(wechat: FakeWechatPay) -> None:
    async def transfer(request: web.Request, _: dict[str, str]) -> web.StreamResponse:
        data, refused = await wechat.checked(request)
        return refused or wechat.answer({"out_bill_no": data["out_bill_no"], "state": "ACCEPTED"})

    wechat.on("POST", "/v3/fund-app/mch-transfer/transfer-bills", transfer)
    answer = await wechat_client(wechat).request(
        "POST", "/v3/fund-app/mch-transfer/transfer-bills", body={"out_bill_no": "W1"}
    )
    assert answer["state"] == "ACCEPTED"


def test_wechat_signature_checks(wechat: FakeWechatPay) -> None:
    client = wechat_client(wechat)
    headers, body = wechat.paid_notification("P1", 990)
    now = time.time()
    assert client.signature_problem(headers, body, now=now) is None
    assert client.signature_problem(headers, body + " ", now=now) == "bad signature"
    assert client.signature_problem(headers, body, now=now + 301) == "stale timestamp"
    probe = {**headers, "Wechatpay-Signature": "WECHATPAY/SIGNTEST/abc"}
    assert client.signature_problem(probe, body, now=now) == "signature probe"
    foreign = {**headers, "Wechatpay-Serial": "PUB_KEY_ID_X"}
    assert client.signature_problem(foreign, body, now=now) == "unknown public key id"


def test_wechat_resource_decrypts_and_tamper_is_detected(wechat: FakeWechatPay) -> None:
    client = wechat_client(wechat)
    resource = wechat.encrypt({"out_trade_no": "P1"})
    assert client.decrypt(resource) == {"out_trade_no": "P1"}
    import base64

    raw = bytearray(base64.b64decode(resource["ciphertext"]))
    raw[-1] ^= 1
    assert client.decrypt({**resource, "ciphertext": base64.b64encode(bytes(raw)).decode()}) is None
