"""WeChat Pay API v3 (public-key mode): Native QR payments, signed and encrypted callbacks,
query, refund and the daily trade bill."""

from __future__ import annotations

import csv
import hashlib
import time
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
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
from server.commerce.payments.nonces import NonceBook
from server.gateway_clients.errors import GatewayRejected, GatewayUnavailable
from server.gateway_clients.wechat import WechatPayClient

PENDING_STATES = ("NOTPAY", "USERPAYING", "ACCEPT")
RETRYABLE = ("SYSTEM_ERROR", "FREQUENCY_LIMITED", "BANK_ERROR")
REFUND_STATES = {"SUCCESS": "succeeded", "PROCESSING": "processing"}


def _time(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(value or "").astimezone(UTC)
    except ValueError:
        return None


class WechatGateway(Gateway):
    name = "wechat"

    def __init__(self, client: WechatPayClient, nonces: NonceBook) -> None:
        self.client = client
        self.nonces = nonces

    async def create(self, checkout: Checkout) -> dict[str, Any]:
        answer = await self.client.request(
            "POST",
            "/v3/pay/transactions/native",
            body={
                "appid": self.client.app_id,
                "mchid": self.client.mchid,
                "description": checkout.subject[:127],
                "out_trade_no": checkout.out_trade_no,
                "notify_url": checkout.notify_url,
                "amount": {"total": checkout.amount, "currency": checkout.currency},
            },
        )
        return {"code_url": answer.get("code_url")}

    async def verify(self, callback: Callback) -> Notice:
        text = callback.body.decode("utf-8", "replace")
        problem = self.client.signature_problem(callback.headers, text, now=time.time())
        if problem is not None:
            raise CallbackRejected(problem, status=401)
        nonce = callback.headers.get("Wechatpay-Nonce", "")
        if not await self.nonces.fresh("wechat", nonce, hashlib.sha256(callback.body).hexdigest()):
            raise CallbackRejected("nonce reused", status=401)
        try:
            event = orjson.loads(callback.body)
        except orjson.JSONDecodeError as exc:
            raise CallbackRejected("malformed body") from exc
        resource = self.client.decrypt(event.get("resource") or {})
        if resource is None:
            raise CallbackRejected("resource does not decrypt")
        return self._notice(str(event.get("id") or ""), str(event.get("event_type")), resource)

    def _notice(self, event_id: str, event_type: str, resource: dict[str, Any]) -> Notice:
        if not event_id:
            raise CallbackRejected("event without id")
        if event_type.startswith("REFUND."):
            if resource.get("mchid") not in (None, self.client.mchid):
                raise CallbackRejected("mchid mismatch")
            succeeded = event_type == "REFUND.SUCCESS"
            return Notice(
                event_id=event_id,
                kind="refund.succeeded" if succeeded else "refund.failed",
                out_trade_no=resource.get("out_trade_no"),
                out_refund_no=resource.get("out_refund_no"),
                provider_refund_id=resource.get("refund_id"),
                refund_amount=(resource.get("amount") or {}).get("refund"),
            )
        if resource.get("appid") != self.client.app_id:
            raise CallbackRejected("appid mismatch")
        if resource.get("mchid") != self.client.mchid:
            raise CallbackRejected("mchid mismatch")
        if event_type != "TRANSACTION.SUCCESS" or resource.get("trade_state") != "SUCCESS":
            return Notice(event_id=event_id, kind="ignored")
        amount = resource.get("amount") or {}
        return Notice(
            event_id=event_id,
            kind="paid",
            out_trade_no=resource.get("out_trade_no"),
            provider_txn_id=resource.get("transaction_id"),
            amount=amount.get("total"),
            currency=amount.get("currency") or "CNY",
            paid_at=_time(resource.get("success_time")),
        )

    def acknowledge(self) -> web.Response:
        return web.json_response({"code": "SUCCESS", "message": "成功"})

    def refuse(self, reason: str, status: int) -> web.Response:
        return web.json_response({"code": "FAIL", "message": reason}, status=status)

    async def query(self, *, out_trade_no: str, provider_txn_id: str | None) -> PaymentState:
        path = f"/v3/pay/transactions/out-trade-no/{out_trade_no}?mchid={self.client.mchid}"
        try:
            answer = await self.client.request("GET", path)
        except GatewayRejected as exc:
            if exc.code == "ORDER_NOT_EXIST":
                return PaymentState("missing")
            raise
        state = answer.get("trade_state")
        if state == "SUCCESS":
            amount = answer.get("amount") or {}
            return PaymentState(
                "succeeded",
                answer.get("transaction_id"),
                amount.get("total"),
                amount.get("currency") or "CNY",
                _time(answer.get("success_time")) or datetime.now(UTC),
            )
        return PaymentState("pending" if state in PENDING_STATES else "closed")

    async def refund(self, refunding: Refunding) -> RefundState:
        body = {
            "out_trade_no": refunding.out_trade_no,
            "out_refund_no": refunding.out_refund_no,
            "reason": refunding.reason[:80] or None,
            "amount": {
                "refund": refunding.amount,
                "total": refunding.total,
                "currency": refunding.currency,
            },
            **refunding.extra,
        }
        try:
            answer = await self.client.request("POST", "/v3/refund/domestic/refunds", body=body)
        except GatewayRejected as exc:
            if exc.code in RETRYABLE:
                raise GatewayUnavailable(str(exc), code=exc.code) from exc
            return RefundState("failed", detail=f"{exc.code}: {exc}")
        return self._refund_state(answer)

    async def query_refund(self, refunding: Refunding) -> RefundState:
        path = f"/v3/refund/domestic/refunds/{refunding.out_refund_no}"
        try:
            answer = await self.client.request("GET", path)
        except GatewayRejected as exc:
            if exc.code in RETRYABLE:
                raise GatewayUnavailable(str(exc), code=exc.code) from exc
            return RefundState("failed", detail=f"{exc.code}: {exc}")
        return self._refund_state(answer)

    @staticmethod
    def _refund_state(answer: dict[str, Any]) -> RefundState:
        status = REFUND_STATES.get(str(answer.get("status")), "failed")
        return RefundState(status, answer.get("refund_id"), str(answer.get("status")))  # type: ignore[arg-type]

    async def bill(self, day: date) -> list[BillLine] | None:
        answer = await self.client.request(
            "GET", f"/v3/bill/tradebill?bill_date={day.isoformat()}&bill_type=ALL"
        )
        content = await self.client.download(str(answer["download_url"]))
        if answer.get("hash_value") and hashlib.sha1(content).hexdigest() != answer["hash_value"]:
            raise GatewayUnavailable("wechat bill: hash mismatch")
        return parse_bill(content.decode("utf-8-sig", "replace"))


def _fen(value: str) -> int | None:
    try:
        return int((Decimal(value.lstrip("`") or "0") * 100).to_integral_exact())
    except InvalidOperation:
        return None


def parse_bill(text: str) -> list[BillLine]:
    """WeChat's trade bill: a header, one line per trade (values prefixed with `), a summary."""
    rows = text.splitlines()
    end = next((i for i, row in enumerate(rows) if row.startswith("总交易单数")), len(rows))
    lines: list[BillLine] = []
    for row in csv.DictReader(rows[:end]):
        clean = {k: (v or "").lstrip("`").strip() for k, v in row.items() if k}
        txn = clean.get("微信订单号", "")
        if clean.get("交易状态") == "REFUND":
            amount = _fen(clean.get("退款金额", ""))
            if amount is not None:
                lines.append(BillLine("refund", clean.get("商户退款单号", ""), abs(amount), txn))
        elif clean.get("交易状态") == "SUCCESS":
            amount = _fen(clean.get("订单金额") or clean.get("应结订单金额", ""))
            if amount is not None:
                lines.append(BillLine("payment", clean.get("商户订单号", ""), amount, txn))
    return lines
