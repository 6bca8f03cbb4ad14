"""A fake Alipay OpenAPI gateway: signed form requests in, RSA2-signed JSON answers out.

Requests are verified with python-alipay-sdk's own `verify` (so our signing is cross-checked);
answers and notifications are signed with `cryptography` (so our verifying is too). Extend it
with `fake.on_method("alipay.fund.trans.uni.transfer", handler)`; `handler(biz) -> dict`.
"""

from __future__ import annotations

import io
import json
import secrets
import zipfile
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from alipay import AliPay

from tests.fakes.base import BEIJING, Call, FakeGateway
from tests.fakes.keys import key_pair

MethodHandler = Callable[[dict[str, Any]], dict[str, Any]]
APP_ID = "2021000000000001"
SELLER_ID = "2088000000000001"


def yuan(fen: int) -> str:
    return f"{Decimal(fen) / 100:.2f}"


def beijing(at: datetime) -> str:
    """Alipay's time format: yyyy-MM-dd HH:mm:ss in Beijing time."""
    return at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


class FakeAlipay(FakeGateway):
    def __init__(self, *, app_id: str = APP_ID, seller_id: str = SELLER_ID) -> None:
        super().__init__()
        self.app_id, self.seller_id = app_id, seller_id
        self.merchant, self.platform = key_pair("alipay-app"), key_pair("alipay-platform")
        # The SDK as Alipay would run it: our public key verifies what the merchant signed.
        self.sdk = AliPay(
            appid=app_id,
            app_private_key_string=self.platform.private_pem,
            alipay_public_key_string=self.merchant.public_pem,
        )
        self.methods: dict[str, MethodHandler] = {
            "alipay.trade.precreate": self._precreate,
            "alipay.trade.query": self._query,
            "alipay.trade.refund": self._refund,
            "alipay.trade.fastpay.refund.query": self._refund_query,
            "alipay.data.dataservice.bill.downloadurl.query": self._bill_url,
        }
        self.trades: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.bills: dict[str, list[list[str]]] = {}
        self.on("POST", "/gateway.do", self._gateway)
        self.on("GET", r"/bills/(?P<date>[\d-]+)\.zip", self._bill_file)

    def settings(self) -> dict[str, Any]:
        return {
            "alipay_app_id": self.app_id,
            "alipay_app_private_key": self.merchant.private_pem,
            "alipay_public_key": self.platform.public_pem,
            "alipay_seller_id": self.seller_id,
            "alipay_gateway_url": f"{self.base_url}/gateway.do",
        }

    def on_method(self, method: str, handler: MethodHandler) -> None:
        self.methods[method] = handler

    # -- what Alipay sends us ------------------------------------------------------------------

    def sign_params(self, params: dict[str, str]) -> dict[str, str]:
        """Sign notification parameters the way Alipay does (sorted, sign/sign_type excluded)."""
        params = {**params, "sign_type": "RSA2"}
        message = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "sign_type")
        import base64

        return {**params, "sign": base64.b64encode(self.platform.sign(message)).decode()}

    def paid_notification(
        self, out_trade_no: str, amount: int, *, trade_no: str | None = None, **extra: str
    ) -> dict[str, str]:
        """A signed `TRADE_SUCCESS` asynchronous notification (form fields)."""
        trade = self.trades.get(out_trade_no, {})
        trade_no = trade_no or trade.get("trade_no") or _trade_no()
        now = self.now()
        fields = {
            "notify_time": beijing(now),
            "notify_type": "trade_status_sync",
            "notify_id": secrets.token_hex(16),
            "app_id": self.app_id,
            "charset": "utf-8",
            "version": "1.0",
            "trade_no": trade_no,
            "out_trade_no": out_trade_no,
            "seller_id": self.seller_id,
            "trade_status": "TRADE_SUCCESS",
            "total_amount": yuan(amount),
            "receipt_amount": yuan(amount),
            "gmt_payment": beijing(trade.get("paid_at") or now),
            **extra,
        }
        return self.sign_params(fields)

    def pay(self, out_trade_no: str) -> dict[str, str]:
        """The buyer pays: the trade succeeds here, and the notification Alipay would send."""
        trade = self.trades[out_trade_no]
        trade["trade_status"] = "TRADE_SUCCESS"
        trade["paid_at"] = self.now()
        return self.paid_notification(out_trade_no, trade["amount"], trade_no=trade["trade_no"])

    # -- what we send Alipay ------------------------------------------------------------------

    async def _gateway(self, request: web.Request, _: dict[str, str]) -> web.StreamResponse:
        params = dict(parse_qsl((await request.read()).decode(), keep_blank_values=True))
        method = params.get("method", "")
        biz = json.loads(params.get("biz_content") or "{}")
        self.calls.append(Call("POST", f"/gateway.do#{method}", biz))
        response_type = method.replace(".", "_") + "_response"
        # Requests sign every parameter but `sign` (sign_type included, unlike notifications).
        message = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "sign")
        if params.get("app_id") != self.app_id or not self.sdk._verify(message, params["sign"]):
            body = {
                "code": "40002",
                "msg": "Invalid Arguments",
                "sub_code": "isv.invalid-signature",
            }
            return self._answer(response_type, body)
        handler = self.methods.get(method)
        if handler is None:
            return self._answer(
                response_type,
                {"code": "40004", "msg": "Business Failed", "sub_code": "isv.invalid-method"},
            )
        return self._answer(response_type, handler(biz))

    def _answer(self, response_type: str, payload: dict[str, Any]) -> web.Response:
        text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        import base64

        sign = base64.b64encode(self.platform.sign(text)).decode()
        raw = f'{{"{response_type}":{text},"sign":"{sign}"}}'
        return web.Response(text=raw, content_type="application/json", charset="utf-8")

    def _precreate(self, biz: dict[str, Any]) -> dict[str, Any]:
        no = biz["out_trade_no"]
        amount = int(Decimal(biz["total_amount"]) * 100)
        self.trades.setdefault(
            no, {"trade_no": _trade_no(), "amount": amount, "trade_status": "WAIT_BUYER_PAY"}
        )
        return {
            "code": "10000",
            "msg": "Success",
            "out_trade_no": no,
            "qr_code": f"https://qr.alipay.com/{secrets.token_hex(8)}",
        }

    def _query(self, biz: dict[str, Any]) -> dict[str, Any]:
        trade = self.trades.get(biz.get("out_trade_no", ""))
        if trade is None:
            return {
                "code": "40004",
                "msg": "Business Failed",
                "sub_code": "ACQ.TRADE_NOT_EXIST",
                "sub_msg": "交易不存在",
            }
        paid = {"send_pay_date": beijing(trade["paid_at"])} if "paid_at" in trade else {}
        return {
            "code": "10000",
            "msg": "Success",
            "out_trade_no": biz["out_trade_no"],
            "trade_no": trade["trade_no"],
            "trade_status": trade["trade_status"],
            "total_amount": yuan(trade["amount"]),
            **paid,
        }

    def _refund(self, biz: dict[str, Any]) -> dict[str, Any]:
        no, request_no = biz["out_trade_no"], biz.get("out_request_no", "")
        amount = int(Decimal(biz["refund_amount"]) * 100)
        trade = self.trades.get(no)
        if trade is None:
            return {"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.TRADE_NOT_EXIST"}
        self.refunds.setdefault(request_no, {"out_trade_no": no, "amount": amount})
        return {
            "code": "10000",
            "msg": "Success",
            "out_trade_no": no,
            "trade_no": trade["trade_no"],
            "refund_fee": yuan(amount),
            "fund_change": "Y",
        }

    def _refund_query(self, biz: dict[str, Any]) -> dict[str, Any]:
        refund = self.refunds.get(biz.get("out_request_no", ""))
        if refund is None:
            return {"code": "10000", "msg": "Success"}
        return {
            "code": "10000",
            "msg": "Success",
            "out_trade_no": refund["out_trade_no"],
            "out_request_no": biz["out_request_no"],
            "refund_amount": yuan(refund["amount"]),
            "refund_status": "REFUND_SUCCESS",
        }

    def _bill_url(self, biz: dict[str, Any]) -> dict[str, Any]:
        return {
            "code": "10000",
            "msg": "Success",
            "bill_download_url": f"{self.base_url}/bills/{biz['bill_date']}.zip",
        }

    def add_bill_row(
        self,
        date: str,
        *,
        trade_no: str,
        out_trade_no: str,
        kind: str,
        amount: int,
        refund_no: str = "",
    ) -> None:
        """One line of the day's bill (kind 交易 or 退款; refunds carry a negative amount)."""
        self.bills.setdefault(date, []).append(
            [
                trade_no,
                out_trade_no,
                kind,
                "商品",
                f"{date} 10:00:00",
                f"{date} 10:00:01",
                yuan(amount),
                yuan(amount),
                refund_no,
            ]
        )

    async def _bill_file(self, request: web.Request, groups: dict[str, str]) -> web.StreamResponse:
        header = [
            "支付宝交易号",
            "商户订单号",
            "业务类型",
            "商品名称",
            "创建时间",
            "完成时间",
            "订单金额（元）",
            "商家实收（元）",
            "退款批次号/请求号",
        ]
        lines = ["#支付宝业务明细查询", "#账号：[20880000000000010156]", ",".join(header)]
        lines += [",".join(row) for row in self.bills.get(groups["date"], [])]
        lines += ["#-----------------------------------------业务明细列表结束", "#导出时间：x"]
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr(f"2088_{groups['date']}_业务明细.csv", "\n".join(lines).encode("gbk"))
        return web.Response(body=buffer.getvalue(), content_type="application/zip")


def _trade_no() -> str:
    return "2026" + "".join(secrets.choice("0123456789") for _ in range(24))
