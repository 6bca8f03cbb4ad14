"""Alipay: precreate (QR) and page-pay links, RSA2 callbacks, query, refund and the daily bill."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from aiohttp import web

from server.commerce.payments.errors import CallbackRejected
from server.commerce.payments.gateways.base import (
    BillLine,
    Callback,
    Checkout,
    Gateway,
    Notice,
    PaymentState,
    Refunding,
    RefundState,
)
from server.gateway_clients.alipay import AlipayClient
from server.gateway_clients.errors import GatewayRejected, GatewayUnavailable
from server.gateway_clients.http import send

_BEIJING = ZoneInfo("Asia/Shanghai")
PAID_STATES = ("TRADE_SUCCESS", "TRADE_FINISHED")
# Business errors that mean "Alipay had trouble, ask again", not "refused".
RETRYABLE = ("ACQ.SYSTEM_ERROR", "aop.ACQ.SYSTEM_ERROR", "isp.unknow-error")


def yuan(fen: int) -> str:
    return f"{Decimal(fen) / 100:.2f}"


def fen(value: str | None) -> int | None:
    try:
        return int((Decimal(value or "") * 100).to_integral_exact())
    except (InvalidOperation, ValueError):
        return None


def beijing_time(value: str | None) -> datetime | None:
    try:
        return datetime.strptime(value or "", "%Y-%m-%d %H:%M:%S").replace(tzinfo=_BEIJING)
    except ValueError:
        return None


class AlipayGateway(Gateway):
    name = "alipay"

    def __init__(self, client: AlipayClient, *, seller_id: str | None) -> None:
        self.client = client
        self.seller_id = seller_id

    async def create(self, checkout: Checkout) -> dict[str, Any]:
        biz = {
            "out_trade_no": checkout.out_trade_no,
            "total_amount": yuan(checkout.amount),
            "subject": checkout.subject[:256],
        }
        answer = await self.client.call(
            "alipay.trade.precreate", biz, notify_url=checkout.notify_url
        )
        page = self.client.page_url(
            "alipay.trade.page.pay",
            {**biz, "product_code": "FAST_INSTANT_TRADE_PAY"},
            notify_url=checkout.notify_url,
        )
        return {"qr_code": answer.get("qr_code"), "page_url": page}

    async def verify(self, callback: Callback) -> Notice:
        params = dict(parse_qsl(callback.body.decode("utf-8", "replace"), keep_blank_values=True))
        if not self.client.verify_notification(params):
            raise CallbackRejected("bad signature")
        if params.get("app_id") != self.client.app_id:
            raise CallbackRejected("app_id mismatch")
        if self.seller_id and params.get("seller_id") != self.seller_id:
            raise CallbackRejected("seller mismatch")
        trade_no, status = params.get("trade_no", ""), params.get("trade_status", "")
        if params.get("out_biz_no") and params.get("refund_fee"):
            return Notice(
                event_id=f"refund:{params['out_biz_no']}",
                kind="refund.succeeded",
                out_trade_no=params.get("out_trade_no"),
                provider_txn_id=trade_no,
                out_refund_no=params["out_biz_no"],
                refund_amount=fen(params["refund_fee"]),
                refund_is_total=True,
            )
        if status in PAID_STATES:
            return Notice(
                event_id=f"{trade_no}:paid",
                kind="paid",
                out_trade_no=params.get("out_trade_no"),
                provider_txn_id=trade_no,
                amount=fen(params.get("total_amount")),
                currency="CNY",
                paid_at=beijing_time(params.get("gmt_payment")),
            )
        return Notice(event_id=f"{trade_no}:{status or params.get('notify_id')}", kind="ignored")

    def acknowledge(self) -> web.Response:
        return web.Response(text="success", content_type="text/plain")

    def refuse(self, reason: str, status: int) -> web.Response:
        return web.Response(text="fail", status=status, content_type="text/plain")

    async def query(self, *, out_trade_no: str, provider_txn_id: str | None) -> PaymentState:
        answer = await self.client.call(
            "alipay.trade.query", {"out_trade_no": out_trade_no}, check=False
        )
        if answer.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
            return PaymentState("missing")
        if answer.get("code") != "10000":
            raise GatewayUnavailable(f"alipay.trade.query: {answer.get('sub_code')}")
        status = answer.get("trade_status")
        if status in PAID_STATES:
            paid = beijing_time(answer.get("send_pay_date")) or datetime.now(UTC)
            return PaymentState(
                "succeeded", answer.get("trade_no"), fen(answer.get("total_amount")), "CNY", paid
            )
        return PaymentState("closed" if status == "TRADE_CLOSED" else "pending")

    async def refund(self, refunding: Refunding) -> RefundState:
        biz = {
            "out_trade_no": refunding.out_trade_no,
            "refund_amount": yuan(refunding.amount),
            "out_request_no": refunding.out_refund_no,
            "refund_reason": refunding.reason[:256],
        }
        try:
            answer = await self.client.call("alipay.trade.refund", biz)
        except GatewayRejected as exc:
            if exc.code in RETRYABLE:
                raise GatewayUnavailable(str(exc), code=exc.code) from exc
            return RefundState("failed", detail=f"{exc.code}: {exc}")
        return RefundState("succeeded", answer.get("trade_no"))

    async def query_refund(self, refunding: Refunding) -> RefundState:
        biz = {"out_trade_no": refunding.out_trade_no, "out_request_no": refunding.out_refund_no}
        answer = await self.client.call("alipay.trade.fastpay.refund.query", biz)
        if answer.get("refund_status") == "REFUND_SUCCESS" or answer.get("refund_amount"):
            return RefundState("succeeded", answer.get("trade_no"))
        return RefundState("failed", detail="no such refund at Alipay")

    async def bill(self, day: date) -> list[BillLine] | None:
        answer = await self.client.call(
            "alipay.data.dataservice.bill.downloadurl.query",
            {"bill_type": "trade", "bill_date": day.isoformat()},
        )
        file = await send("GET", answer["bill_download_url"], seconds=self.client.timeout)
        if file.status >= 400:
            raise GatewayUnavailable(f"alipay bill download: HTTP {file.status}")
        return parse_bill(file.body)


def parse_bill(archive: bytes) -> list[BillLine]:
    """The 业务明细 CSV inside Alipay's zip (GBK): payments (交易) and refunds (退款)."""
    lines: list[BillLine] = []
    with zipfile.ZipFile(io.BytesIO(archive)) as files:
        for name in files.namelist():
            if "汇总" in name:
                continue
            text = files.read(name).decode("gbk", "replace")
            rows = [r for r in text.splitlines() if r.strip() and not r.startswith("#")]
            for row in csv.DictReader(rows):
                lines.extend(_bill_line(row))
    return lines


def _bill_line(row: dict[str, str]) -> list[BillLine]:
    amount = fen((row.get("订单金额（元）") or "").strip())
    kind = (row.get("业务类型") or "").strip()
    txn = (row.get("支付宝交易号") or "").strip()
    if amount is None:
        return []
    if kind == "交易":
        return [BillLine("payment", (row.get("商户订单号") or "").strip(), abs(amount), txn)]
    if kind == "退款":
        reference = (row.get("退款批次号/请求号") or "").strip()
        return [BillLine("refund", reference, abs(amount), txn)]
    return []
