"""A fake WeChat Pay API v3 (public-key mode): checks our `Authorization`, signs its answers.

Requests are verified over `METHOD\\nURL\\nTIMESTAMP\\nNONCE\\nBODY\\n` with our merchant
public key; answers and callbacks are signed over `TIMESTAMP\\nNONCE\\nBODY\\n` with the platform
key and carry `Wechatpay-Serial` = the public key id. Callback resources are AES-256-GCM
encrypted with the APIv3 key. Extend with
`fake.on("POST", "/v3/fund-app/mch-transfer/transfer-bills", handler)` (handlers answer
through `fake.answer(payload)`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
from datetime import datetime
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tests.fakes.base import BEIJING, Call, FakeGateway
from tests.fakes.keys import key_pair

MCHID = "1900000001"
APP_ID = "wx0000000000000001"
MERCHANT_SERIAL = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
PUBLIC_KEY_ID = "PUB_KEY_ID_0119000000012026120200000000000001"
APIV3_KEY = "0123456789abcdef0123456789ABCDEF"
_AUTH = re.compile(r'(\w+)="([^"]*)"')


def rfc3339(at: datetime) -> str:
    """WeChat Pay's time format: RFC 3339 in Beijing time, e.g. 2018-06-08T10:34:56+08:00."""
    return at.astimezone(BEIJING).isoformat(timespec="seconds")


class FakeWechatPay(FakeGateway):
    def __init__(self, *, mchid: str = MCHID, app_id: str = APP_ID) -> None:
        super().__init__()
        self.mchid, self.app_id = mchid, app_id
        self.merchant, self.platform = key_pair("wechat-merchant"), key_pair("wechat-platform")
        self.public_key_id = PUBLIC_KEY_ID
        self.apiv3_key = APIV3_KEY
        self.trades: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.bills: dict[str, list[list[str]]] = {}
        self.on("POST", "/v3/pay/transactions/native", self._native)
        self.on("GET", r"/v3/pay/transactions/out-trade-no/(?P<no>[^/]+)", self._query)
        self.on("POST", "/v3/refund/domestic/refunds", self._refund)
        self.on("GET", r"/v3/refund/domestic/refunds/(?P<no>[^/]+)", self._refund_query)
        self.on("GET", "/v3/bill/tradebill", self._bill)
        self.on("GET", r"/bill-files/(?P<date>[\d-]+)", self._bill_file)

    def settings(self) -> dict[str, Any]:
        return {
            "wechat_pay_mchid": self.mchid,
            "wechat_pay_app_id": self.app_id,
            "wechat_pay_merchant_serial": MERCHANT_SERIAL,
            "wechat_pay_private_key": self.merchant.private_pem,
            "wechat_pay_public_key": self.platform.public_pem,
            "wechat_pay_public_key_id": self.public_key_id,
            "wechat_pay_apiv3_key": self.apiv3_key,
            "wechat_pay_api_url": self.base_url,
        }

    # -- signing -------------------------------------------------------------------------------

    def signed_headers(self, body: str, *, timestamp: int | None = None) -> dict[str, str]:
        stamp = str(timestamp if timestamp is not None else int(time.time()))
        nonce = secrets.token_hex(16)
        signature = self.platform.sign(f"{stamp}\n{nonce}\n{body}\n")
        return {
            "Wechatpay-Timestamp": stamp,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": base64.b64encode(signature).decode(),
            "Wechatpay-Serial": self.public_key_id,
            "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
        }

    def answer(self, payload: dict[str, Any] | None, status: int = 200) -> web.Response:
        body = json.dumps(payload, ensure_ascii=False) if payload is not None else ""
        headers = self.signed_headers(body)
        if payload is None:
            return web.Response(status=204, headers=headers)
        return web.Response(
            text=body, status=status, content_type="application/json", headers=headers
        )

    def error(self, code: str, message: str, status: int = 400) -> web.Response:
        return self.answer({"code": code, "message": message}, status=status)

    def encrypt(self, plain: dict[str, Any], *, associated_data: str = "transaction") -> dict:
        nonce = secrets.token_hex(6)
        data = AESGCM(self.apiv3_key.encode()).encrypt(
            nonce.encode(), json.dumps(plain).encode(), associated_data.encode()
        )
        return {
            "algorithm": "AEAD_AES_256_GCM",
            "ciphertext": base64.b64encode(data).decode(),
            "associated_data": associated_data,
            "original_type": associated_data,
            "nonce": nonce,
        }

    def notification(
        self, event_type: str, resource: dict[str, Any], *, timestamp: int | None = None
    ) -> tuple[dict[str, str], str]:
        """A signed callback (headers, body) as WeChat Pay posts it."""
        event = {
            "id": f"EV-{secrets.token_hex(8)}",
            "create_time": rfc3339(self.now()),
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": "支付成功",
            "resource": self.encrypt(resource),
        }
        body = json.dumps(event, ensure_ascii=False)
        return {
            **self.signed_headers(body, timestamp=timestamp),
            "Content-Type": "application/json",
        }, body

    def transaction(self, out_trade_no: str, amount: int, **extra: Any) -> dict[str, Any]:
        trade = self.trades.get(out_trade_no, {})
        return {
            "appid": self.app_id,
            "mchid": self.mchid,
            "out_trade_no": out_trade_no,
            "transaction_id": trade.get("transaction_id") or _txn(),
            "trade_type": "NATIVE",
            "trade_state": "SUCCESS",
            "trade_state_desc": "支付成功",
            "success_time": rfc3339(trade.get("paid_at") or self.now()),
            "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
            "amount": {
                "total": amount,
                "payer_total": amount,
                "currency": "CNY",
                "payer_currency": "CNY",
            },
            **extra,
        }

    def paid_notification(
        self, out_trade_no: str, amount: int, **extra: Any
    ) -> tuple[dict[str, str], str]:
        return self.notification(
            "TRANSACTION.SUCCESS", self.transaction(out_trade_no, amount, **extra)
        )

    def pay(self, out_trade_no: str) -> tuple[dict[str, str], str]:
        trade = self.trades[out_trade_no]
        trade["trade_state"] = "SUCCESS"
        trade["paid_at"] = self.now()
        return self.paid_notification(out_trade_no, trade["amount"])

    # -- checking what we send -----------------------------------------------------------------

    def authorised(self, request: web.Request, body: str) -> str | None:
        """Why our request's signature is refused, or None."""
        header = request.headers.get("Authorization", "")
        scheme, _, rest = header.partition(" ")
        fields = dict(_AUTH.findall(rest))
        if scheme != "WECHATPAY2-SHA256-RSA2048":
            return "scheme"
        if fields.get("mchid") != self.mchid or fields.get("serial_no") != MERCHANT_SERIAL:
            return "merchant"
        if abs(time.time() - int(fields.get("timestamp", "0"))) > 300:
            return "timestamp"
        message = (
            f"{request.method}\n{request.path_qs}\n{fields['timestamp']}\n"
            f"{fields['nonce_str']}\n{body}\n"
        )
        if not self.merchant.verifies(message, base64.b64decode(fields.get("signature", ""))):
            return "signature"
        return None

    async def checked(self, request: web.Request) -> tuple[dict[str, Any], web.Response | None]:
        body = (await request.read()).decode()
        self.calls.append(
            Call(request.method, request.path_qs, json.loads(body or "{}"), dict(request.headers))
        )
        problem = self.authorised(request, body)
        if problem is not None:
            return {}, self.error("SIGN_ERROR", f"签名错误: {problem}", status=401)
        return json.loads(body or "{}"), None

    async def _native(self, request: web.Request, _: dict[str, str]) -> web.StreamResponse:
        data, refused = await self.checked(request)
        if refused:
            return refused
        no = data["out_trade_no"]
        self.trades.setdefault(
            no,
            {"transaction_id": _txn(), "amount": data["amount"]["total"], "trade_state": "NOTPAY"},
        )
        return self.answer({"code_url": f"weixin://wxpay/bizpayurl?pr={secrets.token_hex(4)}"})

    async def _query(self, request: web.Request, groups: dict[str, str]) -> web.StreamResponse:
        _, refused = await self.checked(request)
        if refused:
            return refused
        trade = self.trades.get(groups["no"])
        if trade is None:
            return self.error("ORDER_NOT_EXIST", "订单不存在", status=404)
        return self.answer(
            self.transaction(groups["no"], trade["amount"], trade_state=trade["trade_state"])
        )

    async def _refund(self, request: web.Request, _: dict[str, str]) -> web.StreamResponse:
        data, refused = await self.checked(request)
        if refused:
            return refused
        trade = self.trades.get(data.get("out_trade_no", ""))
        if trade is None:
            return self.error("RESOURCE_NOT_EXISTS", "订单不存在", status=404)
        refund = self.refunds.setdefault(
            data["out_refund_no"],
            {
                "refund_id": _txn(),
                "out_refund_no": data["out_refund_no"],
                "out_trade_no": data["out_trade_no"],
                "transaction_id": trade["transaction_id"],
                "status": "PROCESSING",
                "amount": {
                    "refund": data["amount"]["refund"],
                    "total": data["amount"]["total"],
                    "currency": "CNY",
                },
            },
        )
        return self.answer(refund)

    async def _refund_query(
        self, request: web.Request, groups: dict[str, str]
    ) -> web.StreamResponse:
        _, refused = await self.checked(request)
        if refused:
            return refused
        refund = self.refunds.get(groups["no"])
        if refund is None:
            return self.error("RESOURCE_NOT_EXISTS", "退款单不存在", status=404)
        return self.answer(refund)

    def add_bill_row(
        self,
        date: str,
        *,
        transaction_id: str,
        out_trade_no: str,
        amount: int,
        refund_id: str = "",
        out_refund_no: str = "",
        refund_amount: int = 0,
    ) -> None:
        state = "REFUND" if refund_id else "SUCCESS"
        self.bills.setdefault(date, []).append(
            [
                f"`{date} 10:00:00",
                f"`{self.app_id}",
                f"`{self.mchid}",
                "`0",
                "`",
                f"`{transaction_id}",
                f"`{out_trade_no}",
                "`oUpF8u",
                "`NATIVE",
                f"`{state}",
                "`OTHERS",
                "`CNY",
                f"`{amount / 100:.2f}",
                "`0.00",
                f"`{refund_id}",
                f"`{out_refund_no}",
                f"`{refund_amount / 100:.2f}",
                "`0.00",
                "`ORIGINAL",
                "`SUCCESS",
                "`商品",
                "`",
                "`0.00",
                "`0.60%",
                f"`{amount / 100:.2f}",
                "`",
                "`",
            ]
        )

    async def _bill(self, request: web.Request, _: dict[str, str]) -> web.StreamResponse:
        _, refused = await self.checked(request)
        if refused:
            return refused
        date = request.query.get("bill_date", "")
        content = self.bill_text(date).encode()
        return self.answer(
            {
                "hash_type": "SHA1",
                "hash_value": hashlib.sha1(content).hexdigest(),
                "download_url": f"{self.base_url}/bill-files/{date}",
            }
        )

    def bill_text(self, date: str) -> str:
        header = (
            "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,"
            "交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,"
            "商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,"
            "手续费,费率,订单金额,申请退款金额,费率备注"
        )
        rows = [",".join(row) for row in self.bills.get(date, [])]
        count = len(rows)
        summary = (
            "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,"
            "手续费总金额,订单总金额,申请退款总金额"
        )
        return "\n".join([header, *rows, summary, f"`{count},`0.00,`0.00,`0.00,`0.00,`0.00,`0.00"])

    async def _bill_file(self, request: web.Request, groups: dict[str, str]) -> web.StreamResponse:
        _, refused = await self.checked(request)
        if refused:
            return refused
        return web.Response(body=self.bill_text(groups["date"]).encode(), content_type="text/plain")


def _txn() -> str:
    return "4200" + "".join(secrets.choice("0123456789") for _ in range(24))
