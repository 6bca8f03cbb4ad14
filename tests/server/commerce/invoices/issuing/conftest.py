"""Invoice fixtures: the fake provider, and the app configured to use it."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.settings import Settings
from tests.helpers.env import AppClient, make_settings
from tests.server.commerce.invoices.issuing.fake_provider import FakeProvider


@pytest.fixture
async def provider(aiohttp_server: Any) -> tuple[FakeProvider, str]:
    fake = FakeProvider()
    server = await aiohttp_server(fake.app())
    return fake, str(server.make_url("/"))


@pytest.fixture
def auth_settings(
    database_url: str, settings: Settings, provider: tuple[FakeProvider, str]
) -> Settings:
    fake, url = provider
    return make_settings(
        database_url=database_url,
        invoice_provider_url=url,
        invoice_provider_app_id=fake.app_id,
        invoice_provider_secret=fake.secret.decode(),
        invoice_retry_base_seconds=0,
        invoice_issue_attempts=3,
    )


@pytest.fixture
async def api(make_client: AppClient, auth_settings: Settings) -> TestClient:
    return await make_client(auth_settings)
