"""Creator fixtures: the fake identity-verification provider, and the app that uses it."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tests.helpers.creators import (
    FakeIdentityProvider,
    provider_settings,
)
from tests.helpers.env import AppClient


@pytest.fixture
async def provider(aiohttp_server: Any) -> FakeIdentityProvider:
    fake = FakeIdentityProvider()
    app = web.Application()
    app.router.add_post("/v1/verify", fake.handle)
    server: TestServer = await aiohttp_server(app)
    fake.url = str(server.make_url("/v1/verify"))
    return fake


@pytest.fixture
async def creators_api(
    make_client: AppClient, database_url: str, provider: FakeIdentityProvider
) -> TestClient:
    return await make_client(provider_settings(database_url, provider.url))
