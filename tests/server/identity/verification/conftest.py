"""Verification fixtures: the fakes at the wire (a real SMTP server and an SMS gateway that checks
signatures, tests/helpers/verification.py) serving, and the app sending through them.

Both run in the test's event loop on free ports; the application reaches them through its
settings, exactly as it would reach a real relay or gateway.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiosmtpd.smtp import SMTP

from server.settings import Settings
from tests.helpers.env import AppClient, make_settings
from tests.helpers.verification import (
    SMS_SECRET,
    CodeSettings,
    FakeSmsGateway,
    FakeSmtp,
)


@pytest.fixture
async def smtp() -> AsyncIterator[FakeSmtp]:
    fake = FakeSmtp()
    loop = asyncio.get_running_loop()

    def protocol() -> SMTP:
        with warnings.catch_warnings():
            # A local fake speaks clear text on purpose; aiosmtpd warns about AUTH without TLS.
            warnings.simplefilter("ignore", UserWarning)
            return SMTP(
                fake,
                hostname="smtp.test",
                auth_require_tls=False,
                authenticator=fake.authenticate,
                auth_required=bool(fake.logins),
            )

    server = await loop.create_server(protocol, "127.0.0.1", 0)
    fake.port = server.sockets[0].getsockname()[1]
    yield fake
    server.close()
    await server.wait_closed()


@pytest.fixture
async def sms_gateway(aiohttp_server: Any) -> FakeSmsGateway:
    fake = FakeSmsGateway()
    app = web.Application()
    app.router.add_post("/v1/messages", fake.handle)
    server: TestServer = await aiohttp_server(app)
    fake.url = str(server.make_url("/v1/messages"))
    return fake


@pytest.fixture
def code_settings(
    database_url: str, settings: Settings, smtp: FakeSmtp, sms_gateway: FakeSmsGateway
) -> CodeSettings:
    """Settings that send through the fakes; sends are not throttled unless a test says so."""

    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": database_url,
            "session_cache_seconds": 0.2,
            "trust_forwarded_for": True,
            "mail_backend": "smtp",
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp.port,
            "smtp_security": "none",
            "sms_backend": "http",
            "sms_api_url": sms_gateway.url,
            "sms_api_secret": SMS_SECRET.decode(),
            "verification_sends_per_target": "1000/minute",
            "verification_sends_per_ip": "1000/minute",
            **overrides,
        }
        return make_settings(**values)

    return build


@pytest.fixture
async def vapi(make_client: AppClient, code_settings: CodeSettings) -> TestClient:
    return await make_client(code_settings())
