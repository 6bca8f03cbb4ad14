"""A local e-invoice provider speaking the signed JSON API of server/commerce/invoices/provider.py:
it checks our signatures, signs its answers, issues each `out_request_no` once and serves
the invoice PDF."""

from __future__ import annotations

import hashlib
import hmac
import io
import itertools
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from reportlab.pdfgen import canvas


def _sign(secret: bytes, *parts: str | bytes) -> str:
    message = b"\n".join(p.encode() if isinstance(p, str) else p for p in parts)
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def invoice_pdf(invoice_no: str) -> bytes:
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer)
    page.drawString(72, 720, f"E-invoice {invoice_no}")
    page.save()
    return buffer.getvalue()


@dataclass
class FakeProvider:
    app_id: str = "sharestack-test"
    secret: bytes = field(default_factory=lambda: secrets.token_hex(16).encode())
    # Statuses to answer the next POSTs with instead of issuing (500: down, 400: refused).
    failures: list[int] = field(default_factory=list)
    issued: dict[str, dict[str, Any]] = field(default_factory=dict)
    posts: int = 0
    refused_signatures: int = 0
    _numbers: Any = field(default_factory=lambda: itertools.count(24_000_001))

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/invoices", self.create)
        app.router.add_get("/v1/invoices/{no}/pdf", self.pdf)
        return app

    def _answer(
        self, status: int, body: bytes, content_type: str = "application/json"
    ) -> web.Response:
        timestamp, nonce = str(int(time.time())), secrets.token_hex(8)
        headers = {
            "X-Timestamp": timestamp,
            "X-Nonce": nonce,
            "X-Signature": _sign(self.secret, timestamp, nonce, body),
        }
        return web.Response(status=status, body=body, content_type=content_type, headers=headers)

    def _verified(self, request: web.Request, body: bytes) -> bool:
        h = request.headers
        fresh = abs(time.time() - int(h.get("X-Timestamp", "0"))) <= 300
        expected = _sign(
            self.secret,
            request.method,
            request.path,
            h.get("X-Timestamp", ""),
            h.get("X-Nonce", ""),
            body,
        )
        ok = (
            fresh
            and h.get("X-App-Id") == self.app_id
            and hmac.compare_digest(expected, h.get("X-Signature", ""))
        )
        self.refused_signatures += not ok
        return ok

    async def create(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not self._verified(request, body):
            return self._answer(
                401, orjson.dumps({"code": "SIGN_ERROR", "message": "bad signature"})
            )
        self.posts += 1
        if self.failures:
            status = self.failures.pop(0)
            return self._answer(
                status, orjson.dumps({"code": "ERROR", "message": f"refused with {status}"})
            )
        data = orjson.loads(body)
        key = data["out_request_no"]
        if key not in self.issued:
            number = f"{next(self._numbers)}"
            self.issued[key] = {"invoice_no": number, "request": data}
        number = self.issued[key]["invoice_no"]
        return self._answer(
            200, orjson.dumps({"invoice_no": number, "pdf_url": f"/v1/invoices/{number}/pdf"})
        )

    async def pdf(self, request: web.Request) -> web.Response:
        if not self._verified(request, b""):
            return self._answer(401, b"{}")
        return self._answer(200, invoice_pdf(request.match_info["no"]), "application/pdf")
