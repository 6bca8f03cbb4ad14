"""Payout channels: Alipay single transfers and WeChat Pay merchant transfers to a payee.

Both channels de-duplicate by our transfer number (`out_biz_no` / `out_bill_no`), so sending
the same withdrawal again after a timeout never pays twice; the answer then is the first one.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Protocol

from server.gateway_clients.alipay import SUCCESS, AlipayClient
from server.gateway_clients.errors import GatewayError, GatewayRejected
from server.gateway_clients.wechat import WechatPayClient
from server.settings import Settings

Outcome = Literal["paid", "pending", "failed"]
# Refusals that say "try again later" rather than "this payout cannot be made".
_RETRYABLE = frozenset(
    {"SYSTEM_ERROR", "FREQUENCY_LIMITED", "aop.ACQ.SYSTEM_ERROR", "isp.unknow-error"}
)
WECHAT_PENDING = frozenset(
    {"ACCEPTED", "PROCESSING", "WAIT_USER_CONFIRM", "TRANSFERING", "CANCELING"}
)


@dataclass(frozen=True, slots=True)
class PayoutResult:
    outcome: Outcome
    reference: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Payee:
    account: str
    name: str | None


class PayoutChannel(Protocol):
    name: str

    async def transfer(self, *, number: str, amount: int, payee: Payee) -> PayoutResult: ...

    async def check(self, *, number: str) -> PayoutResult: ...


def yuan(fen: int) -> str:
    return f"{Decimal(fen) / 100:.2f}"


def _refused(exc: GatewayError) -> PayoutResult:
    if isinstance(exc, GatewayRejected) and (exc.code or "") not in _RETRYABLE:
        return PayoutResult("failed", reason=f"{exc.code}: {exc}"[:500])
    return PayoutResult("pending", reason=str(exc)[:500])


class AlipayPayouts:
    """`alipay.fund.trans.uni.transfer` to an Alipay login id (phone or email) with its name."""

    name = "alipay"

    def __init__(self, client: AlipayClient, *, title: str) -> None:
        self.client = client
        self.title = title

    async def transfer(self, *, number: str, amount: int, payee: Payee) -> PayoutResult:
        info = {"identity": payee.account, "identity_type": "ALIPAY_LOGON_ID"}
        if payee.name:
            info["name"] = payee.name
        biz = {
            "out_biz_no": number,
            "trans_amount": yuan(amount),
            "product_code": "TRANS_ACCOUNT_NO_PWD",
            "biz_scene": "DIRECT_TRANSFER",
            "order_title": self.title,
            "payee_info": info,
        }
        try:
            answer = await self.client.call("alipay.fund.trans.uni.transfer", biz)
        except GatewayError as exc:
            return _refused(exc)
        return self._outcome(answer)

    async def check(self, *, number: str) -> PayoutResult:
        biz = {
            "out_biz_no": number,
            "product_code": "TRANS_ACCOUNT_NO_PWD",
            "biz_scene": "DIRECT_TRANSFER",
        }
        try:
            answer = await self.client.call("alipay.fund.trans.common.query", biz, check=False)
        except GatewayError as exc:
            return PayoutResult("pending", reason=str(exc)[:500])
        if answer.get("code") != SUCCESS:
            return PayoutResult("pending", reason=str(answer.get("sub_code")))
        return self._outcome(answer)

    @staticmethod
    def _outcome(answer: dict[str, object]) -> PayoutResult:
        status = answer.get("status")
        reference = str(answer.get("order_id") or "") or None
        if status == "SUCCESS":
            return PayoutResult("paid", reference=reference)
        if status in ("FAIL", "CLOSED", "REFUND"):
            reason = str(answer.get("fail_reason") or status)
            return PayoutResult("failed", reference=reference, reason=reason[:500])
        return PayoutResult("pending", reference=reference)


class WechatPayouts:
    """`/v3/fund-app/mch-transfer/transfer-bills` to an openid under the merchant's app."""

    name = "wechat"
    PATH = "/v3/fund-app/mch-transfer/transfer-bills"

    def __init__(self, client: WechatPayClient, *, title: str, scene_id: str, post: str) -> None:
        self.client = client
        self.title = title
        self.scene_id = scene_id
        self.post = post

    async def transfer(self, *, number: str, amount: int, payee: Payee) -> PayoutResult:
        body: dict[str, object] = {
            "appid": self.client.app_id,
            "out_bill_no": number,
            "transfer_scene_id": self.scene_id,
            "openid": payee.account,
            "transfer_amount": amount,
            "transfer_remark": self.title[:32],
            "transfer_scene_report_infos": [
                {"info_type": "岗位类型", "info_content": self.post[:32]},
                {"info_type": "报酬说明", "info_content": self.title[:32]},
            ],
        }
        if payee.name:
            body["user_name"] = self.client.encrypt(payee.name)
        try:
            answer = await self.client.request("POST", self.PATH, body=body)
        except GatewayError as exc:
            return _refused(exc)
        return self._outcome(answer)

    async def check(self, *, number: str) -> PayoutResult:
        try:
            answer = await self.client.request("GET", f"{self.PATH}/out-bill-no/{number}")
        except GatewayError as exc:
            if isinstance(exc, GatewayRejected) and exc.code == "NOT_FOUND":
                return PayoutResult("failed", reason="transfer unknown to WeChat Pay")
            return PayoutResult("pending", reason=str(exc)[:500])
        return self._outcome(answer)

    @staticmethod
    def _outcome(answer: dict[str, object]) -> PayoutResult:
        state = str(answer.get("state") or "")
        reference = str(answer.get("transfer_bill_no") or "") or None
        if state == "SUCCESS":
            return PayoutResult("paid", reference=reference)
        if state in WECHAT_PENDING:
            return PayoutResult("pending", reference=reference)
        reason = str(answer.get("fail_reason") or state or "unknown state")
        return PayoutResult("failed", reference=reference, reason=reason[:500])


def channels(settings: Settings) -> dict[str, PayoutChannel]:
    """The configured payout channels by name (a channel without credentials is absent)."""
    found: dict[str, PayoutChannel] = {}
    alipay = AlipayClient.from_settings(settings)
    if alipay is not None:
        found["alipay"] = AlipayPayouts(alipay, title=settings.payout_title)
    wechat = WechatPayClient.from_settings(settings)
    if wechat is not None:
        found["wechat"] = WechatPayouts(
            wechat,
            title=settings.payout_title,
            scene_id=settings.payout_wechat_scene_id,
            post=settings.payout_wechat_post,
        )
    return found
