"""Fakes at the wire: a real SMTP server (aiosmtpd) and an SMS gateway that checks signatures;
sending and using codes.

Both run in the test's event loop on free ports; the application reaches them through its
settings, exactly as it would reach a real relay or gateway."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from server.settings import Settings
from tests.helpers.auth import bearer

SMS_SECRET = b"test-sms-gateway-secret"
CODE = re.compile(r"\b(\d{6})\b")


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    message: EmailMessage

    @property
    def text(self) -> str:
        return str(self.message.get_content())


@dataclass
class FakeSmtp:
    """Records every message it accepts; with `logins` set, requires AUTH LOGIN/PLAIN."""

    port: int = 0
    mails: list[Mail] = field(default_factory=list)
    logins: dict[str, str] = field(default_factory=dict)
    authenticated: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        message = message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.mails.append(Mail(str(envelope.mail_from), list(envelope.rcpt_tos), message))
        return "250 OK"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and self.logins.get(data.login.decode()) == data.password.decode()
        )
        if ok:
            self.authenticated.append(data.login.decode())
        return AuthResult(success=ok)

    def to(self, address: str) -> list[Mail]:
        return [mail for mail in self.mails if address in mail.recipients]

    def code_for(self, address: str) -> str:
        """The code in the latest mail to `address`."""
        mails = self.to(address)
        assert mails, f"no mail to {address}"
        match = CODE.search(mails[-1].text)
        assert match, mails[-1].text
        return match.group(1)


@dataclass
class FakeSmsGateway:
    """Accepts signed JSON posts only; `answer` sets the status it replies with."""

    url: str = ""
    texts: list[dict[str, str]] = field(default_factory=list)
    refused: int = 0
    answer: int = 200

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        timestamp = request.headers.get("X-Sms-Timestamp", "")
        expected = hmac.new(SMS_SECRET, f"{timestamp}.".encode() + body, hashlib.sha256)
        given = request.headers.get("X-Sms-Signature", "")
        fresh = timestamp.isdigit() and abs(time.time() - int(timestamp)) < 300
        if not fresh or not hmac.compare_digest(given, "sha256=" + expected.hexdigest()):
            self.refused += 1
            return web.json_response({"error": "bad signature"}, status=401)
        if self.answer != 200:
            return web.json_response({"error": "unavailable"}, status=self.answer)
        self.texts.append(await request.json())
        return web.json_response({"id": len(self.texts)})

    def to(self, phone: str) -> list[dict[str, str]]:
        return [text for text in self.texts if text["to"] == phone]

    def code_for(self, phone: str) -> str:
        texts = self.to(phone)
        assert texts, f"no text to {phone}"
        match = CODE.search(texts[-1]["text"])
        assert match, texts[-1]
        return match.group(1)


CodeSettings = Callable[..., Settings]
Send = Callable[..., Awaitable[Any]]


async def send_code(
    client: TestClient,
    status: int = 202,
    *,
    token: str | None = None,
    ip: str = "10.1.0.1",
    **body: Any,
) -> Any:
    headers = {"X-Forwarded-For": ip, **(bearer(token) if token else {})}
    response = await client.post("/api/v1/auth/codes", json=body, headers=headers)
    data = await response.json()
    assert response.status == status, data
    return data


async def code_login(client: TestClient, status: int = 200, **body: Any) -> Any:
    response = await client.post("/api/v1/auth/login/code", json=body)
    data = await response.json()
    assert response.status == status, data
    return data
