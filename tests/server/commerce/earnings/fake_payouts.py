"""Payout endpoints on the fake gateways: Alipay's single transfer and its query, WeChat Pay's
merchant transfer bills and their query, speaking the real wire formats.

`outcome` decides how the next transfers end: "SUCCESS", "FAIL" (refused for good) or
"PENDING" (accepted, finished later by `finish`). A repeated transfer number answers the
first transfer, as the real gateways do.
"""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

from aiohttp import web
from wechatpayv3 import utils as wx

from tests.fakes.alipay import FakeAlipay, beijing
from tests.fakes.wechat import FakeWechatPay, rfc3339


class AlipayTransfers:
    def __init__(self, fake: FakeAlipay) -> None:
        self.fake = fake
        self.outcome = "SUCCESS"
        self.transfers: dict[str, dict[str, Any]] = {}
        fake.on_method("alipay.fund.trans.uni.transfer", self._transfer)
        fake.on_method("alipay.fund.trans.common.query", self._query)

    def _transfer(self, biz: dict[str, Any]) -> dict[str, Any]:
        number = biz["out_biz_no"]
        if number in self.transfers:
            return self._answer(self.transfers[number])
        if self.outcome == "FAIL":
            return {
                "code": "40004",
                "msg": "Business Failed",
                "sub_code": "PAYEE_NOT_EXIST",
                "sub_msg": "收款账号不存在",
            }
        assert biz["product_code"] == "TRANS_ACCOUNT_NO_PWD"
        assert biz["payee_info"]["identity_type"] == "ALIPAY_LOGON_ID"
        self.transfers[number] = {
            "out_biz_no": number,
            "order_id": "2026" + secrets.token_hex(8),
            "amount": int(Decimal(biz["trans_amount"]) * 100),
            "payee": biz["payee_info"],
            "status": "SUCCESS" if self.outcome == "SUCCESS" else "DEALING",
            "at": self.fake.now(),
        }
        return self._answer(self.transfers[number])

    def finish(self, number: str, status: str) -> None:
        self.transfers[number]["status"] = status

    def _query(self, biz: dict[str, Any]) -> dict[str, Any]:
        found = self.transfers.get(biz.get("out_biz_no", ""))
        if found is None:
            return {"code": "40004", "msg": "Business Failed", "sub_code": "ORDER_NOT_EXIST"}
        return self._answer(found, fail_reason="收款方账户异常")

    @staticmethod
    def _answer(found: dict[str, Any], **extra: str) -> dict[str, Any]:
        answer = {
            "code": "10000",
            "msg": "Success",
            "out_biz_no": found["out_biz_no"],
            "order_id": found["order_id"],
            "pay_fund_order_id": found["order_id"],
            "status": found["status"],
            "trans_date": beijing(found["at"]),
        }
        return {**answer, **extra} if found["status"] == "FAIL" else answer


class WechatTransfers:
    PATH = "/v3/fund-app/mch-transfer/transfer-bills"

    def __init__(self, fake: FakeWechatPay) -> None:
        self.fake = fake
        self.outcome = "SUCCESS"
        self.bills: dict[str, dict[str, Any]] = {}
        fake.on("POST", self.PATH, self._transfer)
        fake.on("GET", self.PATH + r"/out-bill-no/(?P<no>[^/]+)", self._query)

    async def _transfer(self, request: web.Request, _: dict[str, str]) -> web.StreamResponse:
        data, refused = await self.fake.checked(request)
        if refused:
            return refused
        number = data["out_bill_no"]
        if number in self.bills:
            return self.fake.answer(self._bill(self.bills[number]))
        if self.outcome == "FAIL":
            return self.fake.error("INVALID_REQUEST", "用户姓名校验失败")
        if data.get("appid") != self.fake.app_id or not data.get("transfer_scene_report_infos"):
            return self.fake.error("PARAM_ERROR", "参数错误")
        name = data.get("user_name")
        self.bills[number] = {
            "out_bill_no": number,
            "transfer_bill_no": "1330" + secrets.token_hex(10),
            "amount": data["transfer_amount"],
            "openid": data["openid"],
            # The SDK's own decryption with the platform key: our encryption must match it.
            "user_name": wx.rsa_decrypt(name, self.fake.platform.private) if name else None,
            "state": "SUCCESS" if self.outcome == "SUCCESS" else "WAIT_USER_CONFIRM",
            "at": self.fake.now(),
        }
        return self.fake.answer(self._bill(self.bills[number]))

    def finish(self, number: str, state: str) -> None:
        self.bills[number]["state"] = state

    async def _query(self, request: web.Request, groups: dict[str, str]) -> web.StreamResponse:
        _, refused = await self.fake.checked(request)
        if refused:
            return refused
        found = self.bills.get(groups["no"])
        if found is None:
            return self.fake.error("NOT_FOUND", "记录不存在", status=404)
        body = self._bill(found)
        if found["state"] == "FAIL":
            body["fail_reason"] = "PAYEE_ACCOUNT_ABNORMAL"
        return self.fake.answer(body)

    @staticmethod
    def _bill(found: dict[str, Any]) -> dict[str, Any]:
        return {
            "out_bill_no": found["out_bill_no"],
            "transfer_bill_no": found["transfer_bill_no"],
            "create_time": rfc3339(found["at"]),
            "state": found["state"],
            **(
                {"package_info": "affffddafdfafddffda=="}
                if found["state"] == "WAIT_USER_CONFIRM"
                else {}
            ),
        }
