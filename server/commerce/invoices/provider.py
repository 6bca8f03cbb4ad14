"""The e-invoice (发票) provider: one interface, and the HTTP provider speaking its signed JSON API.

Wire format. Every request carries `X-App-Id`, `X-Timestamp` (Unix seconds), `X-Nonce` and
`X-Signature`: hex HMAC-SHA256 with our secret over
`METHOD\\nPATH\\nTIMESTAMP\\nNONCE\\nBODY`. Responses are signed the same way over
`TIMESTAMP\\nNONCE\\nBODY` in their own headers, and checked before they are believed.

- `POST /v1/invoices` {out_request_no, order_number, buyer {type, title, tax_number, email},
  amount, currency, items [{name, quantity, amount}]} -> {invoice_no, pdf_url}; the same
  `out_request_no` again answers the invoice issued the first time (retries are safe).
- `GET <pdf_url>` -> the invoice PDF.
4xx answers are refusals (the request is wrong and retrying will not help); timeouts, 5xx and
unsigned answers are transient.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

import aiohttp
import orjson

from server.crypto import same_secret

PDF_MAGIC = b"%PDF-"


class ProviderError(Exception):
    """The provider could not be reached or answered nonsense: try again later."""


class ProviderRefused(Exception):
    """The provider refused the request: retrying the same request will not help."""


@dataclass(frozen=True, slots=True)
class InvoiceOrder:
    """What an invoice is issued for."""

    out_request_no: str
    order_number: str
    buyer_type: str
    title: str
    tax_number: str | None
    email: str
    amount: int
    currency: str
    items: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class IssuedInvoice:
    invoice_no: str
    pdf: bytes


class InvoiceProvider(Protocol):
    async def issue(self, order: InvoiceOrder) -> IssuedInvoice:
        """Issue (or fetch the already issued) invoice; ProviderError / ProviderRefused."""
        ...


def sign(secret: bytes, *parts: str | bytes) -> str:
    message = b"\n".join(p.encode() if isinstance(p, str) else p for p in parts)
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


class HttpInvoiceProvider:
    """The provider's signed JSON API at `base_url`."""

    def __init__(self, *, base_url: str, app_id: str, secret: bytes, timeout: float) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.app_id = app_id
        self.secret = secret
        self.timeout = aiohttp.ClientTimeout(total=timeout)

    def _headers(self, method: str, path: str, body: bytes) -> dict[str, str]:
        timestamp, nonce = str(int(time.time())), secrets.token_hex(16)
        return {
            "X-App-Id": self.app_id,
            "X-Timestamp": timestamp,
            "X-Nonce": nonce,
            "X-Signature": sign(self.secret, method, path, timestamp, nonce, body),
        }

    def _check_signature(self, headers: Any, body: bytes) -> None:
        timestamp, nonce = headers.get("X-Timestamp", ""), headers.get("X-Nonce", "")
        expected = sign(self.secret, timestamp, nonce, body)
        if not same_secret(headers.get("X-Signature", ""), expected):
            raise ProviderError("the provider's answer is not signed with our secret")

    async def _call(self, method: str, url: str, payload: dict[str, Any] | None) -> bytes:
        body = orjson.dumps(payload) if payload is not None else b""
        headers = self._headers(method, urlsplit(url).path, body)
        if payload is not None:
            headers["Content-Type"] = "application/json"
        try:
            async with (
                aiohttp.ClientSession(timeout=self.timeout) as http,
                http.request(method, url, data=body or None, headers=headers) as response,
            ):
                data = await response.read()
                status, answer_headers = response.status, response.headers
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ProviderError(f"{method} {url}: {exc.__class__.__name__}") from exc
        if status >= 500:
            raise ProviderError(f"{method} {url}: HTTP {status}")
        self._check_signature(answer_headers, data)
        if status >= 400:
            raise ProviderRefused(_message(data) or f"HTTP {status}")
        return data

    async def issue(self, order: InvoiceOrder) -> IssuedInvoice:
        payload = {
            "out_request_no": order.out_request_no,
            "order_number": order.order_number,
            "buyer": {
                "type": order.buyer_type,
                "title": order.title,
                "tax_number": order.tax_number,
                "email": order.email,
            },
            "amount": order.amount,
            "currency": order.currency,
            "items": order.items,
        }
        answer = _json(await self._call("POST", urljoin(self.base_url, "v1/invoices"), payload))
        invoice_no, pdf_url = answer.get("invoice_no"), answer.get("pdf_url")
        if not isinstance(invoice_no, str) or not invoice_no or not isinstance(pdf_url, str):
            raise ProviderError("the provider's answer names no invoice")
        pdf = await self._call("GET", urljoin(self.base_url, pdf_url), None)
        if not pdf.startswith(PDF_MAGIC):
            raise ProviderError("the provider's invoice file is not a PDF")
        return IssuedInvoice(invoice_no=invoice_no, pdf=pdf)


def _json(data: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ProviderError("the provider's answer is not JSON") from exc
    if not isinstance(value, dict):
        raise ProviderError("the provider's answer is not a JSON object")
    return value


def _message(data: bytes) -> str | None:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return str(value.get("message") or value.get("code")) if isinstance(value, dict) else None


def provider_from_settings(settings: Any) -> InvoiceProvider | None:
    """The configured provider, or None when invoices are not set up."""
    secret = settings.invoice_provider_secret
    if not (settings.invoice_provider_url and settings.invoice_provider_app_id and secret):
        return None
    return HttpInvoiceProvider(
        base_url=settings.invoice_provider_url,
        app_id=settings.invoice_provider_app_id,
        secret=secret.get_secret_value().encode(),
        timeout=settings.invoice_provider_timeout_seconds,
    )
