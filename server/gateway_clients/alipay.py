"""Alipay OpenAPI (RSA2): signed calls through aiohttp, verified answers and callbacks.

python-alipay-sdk signs and verifies only; it never sends a request (it blocks and hard-codes the
gateway). Used by payments and by creator payouts (`alipay.fund.trans.uni.transfer`):

    client = AlipayClient.from_settings(settings)
    answer = await client.call("alipay.trade.query", {"out_trade_no": "P123"})
    answer["trade_status"]  # the verified `alipay_trade_query_response` object
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

import orjson
from alipay import AliPay
from alipay.exceptions import AliPayException, AliPayValidationError

from server.gateway_clients.errors import GatewayRejected, GatewaySignatureInvalid
from server.gateway_clients.http import send
from server.settings import Settings

SUCCESS = "10000"
_BEIJING = ZoneInfo("Asia/Shanghai")


class AlipayClient:
    """One Alipay application: signs requests with our key, verifies with Alipay's."""

    def __init__(
        self,
        *,
        app_id: str,
        private_key: str,
        alipay_public_key: str,
        gateway_url: str,
        timeout: float = 10.0,
    ) -> None:
        self.app_id = app_id
        self.gateway_url = gateway_url
        self.timeout = timeout
        self._sdk = AliPay(
            appid=app_id,
            app_private_key_string=_pem(private_key),
            alipay_public_key_string=_pem(alipay_public_key),
            sign_type="RSA2",
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> AlipayClient | None:
        """The configured client, or None when Alipay is not set up."""
        key = settings.alipay_app_private_key
        if not (settings.alipay_app_id and key and settings.alipay_public_key):
            return None
        return cls(
            app_id=settings.alipay_app_id,
            private_key=key.get_secret_value(),
            alipay_public_key=settings.alipay_public_key,
            gateway_url=settings.alipay_gateway_url,
            timeout=settings.payment_http_timeout_seconds,
        )

    def signed_query(self, method: str, biz_content: dict[str, Any], **params: str) -> str:
        """The signed, URL-encoded parameters of one call (a page-pay link is gateway?query)."""
        data = self._sdk.build_body(
            method,
            dict(biz_content),
            timestamp=datetime.now(_BEIJING).strftime("%Y-%m-%d %H:%M:%S"),
            **params,
        )
        return str(self._sdk.sign_data(data))

    def signed_params(
        self, method: str, biz_content: dict[str, Any], **params: str
    ) -> dict[str, str]:
        return dict(parse_qsl(self.signed_query(method, biz_content, **params)))

    def page_url(self, method: str, biz_content: dict[str, Any], **params: str) -> str:
        """A link that opens Alipay's own page for this call (alipay.trade.page.pay, wap.pay)."""
        return f"{self.gateway_url}?{self.signed_query(method, biz_content, **params)}"

    async def call(
        self, method: str, biz_content: dict[str, Any], *, check: bool = True, **params: str
    ) -> dict[str, Any]:
        """POST one signed call; return the verified `<method>_response` object.

        With `check`, an answer whose code is not 10000 raises GatewayRejected (code = sub_code).
        """
        body = self.signed_query(method, biz_content, **params)
        answer = await send(
            "POST",
            self.gateway_url,
            data=body,
            seconds=self.timeout,
            headers={"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"},
        )
        result = self.verify_response(answer.text, method)
        if check and result.get("code") != SUCCESS:
            raise GatewayRejected(
                str(result.get("sub_msg") or result.get("msg") or "refused"),
                code=str(result.get("sub_code") or result.get("code")),
            )
        return result

    def verify_response(self, raw: str, method: str) -> dict[str, Any]:
        """Check the signature over the exact response object text and return it parsed."""
        response_type = method.replace(".", "_") + "_response"
        try:
            result: dict[str, Any] = self._sdk._verify_and_return_sync_response(raw, response_type)
        except AliPayValidationError as exc:
            raise GatewaySignatureInvalid(f"{method}: response signature invalid") from exc
        except AliPayException as exc:
            parsed = _loads(raw)
            error = parsed.get(response_type) or parsed.get("error_response") or {}
            raise GatewayRejected(
                str(error.get("sub_msg") or error.get("msg") or "unsigned error"),
                code=str(error.get("sub_code") or error.get("code") or exc.code),
            ) from exc
        return result

    def verify_notification(self, params: dict[str, str]) -> bool:
        """True when an asynchronous notification's `sign` verifies over its other parameters."""
        data = dict(params)
        signature = data.pop("sign", None)
        if not signature:
            return False
        try:
            return bool(self._sdk.verify(data, signature))
        except (AliPayException, ValueError, TypeError):
            return False


def _pem(key: str) -> str:
    """Accept PEM with real or escaped newlines (environment variables often carry "\\n")."""
    return key.replace("\\n", "\n").strip()


def _loads(raw: str) -> dict[str, Any]:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
