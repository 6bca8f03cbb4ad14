"""OAuth fixtures: the fake providers, and the app configured to use them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from server.runtime import Runtime
from server.settings import Settings
from tests.helpers.env import AppClient, make_settings
from tests.helpers.notifications import Recorder
from tests.helpers.oauth import (
    provider_settings,
)
from tests.server.identity.oauth.fake_providers import (
    FakeProviders,
)


@pytest.fixture
async def fake(aiohttp_server: Any) -> FakeProviders:
    providers = FakeProviders()
    server: TestServer = await aiohttp_server(providers.app)
    providers.base_url = str(server.make_url("")).rstrip("/")
    return providers


@pytest.fixture
def oauth_settings(database_url: str, settings: Settings, fake: FakeProviders) -> Settings:
    return make_settings(
        database_url=database_url,
        session_cache_seconds=0.2,
        **provider_settings(fake.base_url),
    )


@pytest.fixture
async def recorded(settings: Settings) -> AsyncIterator[tuple[Runtime, Recorder]]:
    """A Runtime on the test database whose jobs and events go to a recorder."""
    runtime = await Runtime.open(settings)
    recorder = Recorder()
    runtime.attach(jobs=recorder, events=recorder)
    yield runtime, recorder
    await runtime.close()


@pytest.fixture
async def api(make_client: AppClient, oauth_settings: Settings) -> TestClient:
    return await make_client(oauth_settings)
