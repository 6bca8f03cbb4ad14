"""WeChat Pay API v3 in public-key mode: signed requests through aiohttp, verified answers.

wechatpayv3 supplies the signing, verifying and decrypting helpers only (its `WeChatPay`
constructor downloads platform certificates, so it is never built). Used by payments and by
creator payouts (`/v3/fund-app/mch-transfer/transfer-bills`):

    client = WechatPayClient.from_settings(settings)
    answer = await client.request("GET", "/v3/pay/transactions/out-trade-no/P1?mchid=...")
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key
from multidict import CIMultiDictProxy
from wechatpayv3 import utils as wx

from server.gateway_clients.errors import GatewayRejected, GatewaySignatureInvalid
from server.gateway_clients.http import send
from server.settings import Settings

SIGNTEST_PREFIX = "WECHATPAY/SIGNTEST/"
AUTH_SCHEME = "WECHATPAY2-SHA256-RSA2048"


class WechatPayClient:
    """One merchant: signs with our merchant key, verifies with the platform public key."""

    def __init__(
        self,
        *,
        mchid: str,
        app_id: str,
        merchant_serial: str,
        private_key: str,
        public_key: str,
        public_key_id: str,
        apiv3_key: str,
        api_url: str,
        timeout: float = 10.0,
        tolerance_seconds: int = 300,
    ) -> None:
        self.mchid = mchid
        self.app_id = app_id
        self.merchant_serial = merchant_serial
        self.public_key_id = public_key_id
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self.tolerance_seconds = tolerance_seconds
        self._private_key = load_pem_private_key(_pem(private_key).encode(), password=None)
        self._public_key = load_pem_public_key(_pem(public_key).encode())
        self._apiv3_key = apiv3_key

    @classmethod
    def from_settings(cls, settings: Settings) -> WechatPayClient | None:
        """The configured client, or None when WeChat Pay is not set up."""
        s = settings
        key, v3 = s.wechat_pay_private_key, s.wechat_pay_apiv3_key
        needed = (s.wechat_pay_mchid, s.wechat_pay_merchant_serial, s.wechat_pay_public_key)
        if not (all(needed) and key and v3 and s.wechat_pay_public_key_id):
            return None
        return cls(
            mchid=str(s.wechat_pay_mchid),
            app_id=s.wechat_pay_app_id or "",
            merchant_serial=str(s.wechat_pay_merchant_serial),
            private_key=key.get_secret_value(),
            public_key=str(s.wechat_pay_public_key),
            public_key_id=s.wechat_pay_public_key_id,
            apiv3_key=v3.get_secret_value(),
            api_url=s.wechat_pay_api_url,
            timeout=s.payment_http_timeout_seconds,
            tolerance_seconds=s.payment_callback_tolerance_seconds,
        )

    def authorization(self, method: str, path: str, body: str = "") -> str:
        """The `Authorization` header value for one request (path includes the query string)."""
        nonce = uuid.uuid4().hex.upper()
        return str(
            wx.build_authorization(
                path,
                method,
                self.mchid,
                self.merchant_serial,
                self._private_key,
                body or None,
                nonce,
            )
        )

    async def request(
        self, method: str, path: str, *, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Send one signed request; return the verified JSON answer ({} for 204 No Content).

        A 4xx raises GatewayRejected with WeChat's `code` (PARAM_ERROR, ORDER_NOT_EXIST ...).
        """
        text = orjson.dumps(body).decode() if body is not None else ""
        headers = {
            "Authorization": self.authorization(method, path, text),
            "Accept": "application/json",
            "Content-Type": "application/json",
            # Sensitive fields (encrypt()) are encrypted for this platform key.
            "Wechatpay-Serial": self.public_key_id,
        }
        answer = await send(
            method, self.api_url + path, data=text or None, headers=headers, seconds=self.timeout
        )
        if answer.status >= 400:
            error = _loads(answer.body)
            raise GatewayRejected(
                str(error.get("message") or f"HTTP {answer.status}"),
                code=str(error.get("code") or answer.status),
                status=answer.status,
            )
        problem = self.signature_problem(answer.headers, answer.text, now=time.time())
        if problem is not None:
            raise GatewaySignatureInvalid(f"{method} {path}: {problem}")
        return _loads(answer.body) if answer.body else {}

    async def download(self, url: str) -> bytes:
        """GET a bill's download_url (signed like any request; the file itself is unsigned)."""
        path = url[len(self.api_url) :] if url.startswith(self.api_url) else url
        headers = {"Authorization": self.authorization("GET", path), "Accept": "*/*"}
        answer = await send("GET", self.api_url + path, headers=headers, seconds=self.timeout)
        if answer.status >= 400:
            raise GatewayRejected(f"bill download: HTTP {answer.status}", status=answer.status)
        return answer.body

    def signature_problem(
        self, headers: CIMultiDictProxy[str] | dict[str, str], body: str, *, now: float
    ) -> str | None:
        """Why a signed answer or callback must be refused, or None when it verifies."""
        get = headers.get
        signature, serial = get("Wechatpay-Signature", ""), get("Wechatpay-Serial", "")
        timestamp, nonce = get("Wechatpay-Timestamp", ""), get("Wechatpay-Nonce", "")
        if not (signature and serial and timestamp and nonce):
            return "signature headers missing"
        if signature.startswith(SIGNTEST_PREFIX):
            return "signature probe"
        if serial != self.public_key_id:
            return "unknown public key id"
        try:
            stamp = int(timestamp)
        except ValueError:
            return "malformed timestamp"
        if abs(now - stamp) > self.tolerance_seconds:
            return "stale timestamp"
        if not wx.rsa_verify(timestamp, nonce, body, signature, self._public_key):
            return "bad signature"
        return None

    def decrypt(self, resource: dict[str, Any]) -> dict[str, Any] | None:
        """Open an AES-256-GCM callback resource with the APIv3 key; None when it was tampered."""
        try:
            plain = wx.aes_decrypt(
                resource["nonce"],
                resource["ciphertext"],
                resource.get("associated_data") or "",
                self._apiv3_key,
            )
        except (KeyError, TypeError, ValueError):
            return None
        if plain is None:
            return None
        value = _loads(plain.encode())
        return value or None

    def encrypt(self, text: str) -> str:
        """Encrypt a sensitive field (a payee's real name) for the platform public key."""
        return str(wx.rsa_encrypt(text, self._public_key))


def _pem(key: str) -> str:
    """Accept PEM with real or escaped newlines (environment variables often carry "\\n")."""
    return key.replace("\\n", "\n").strip()


def _loads(raw: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
