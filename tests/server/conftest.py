"""Fixtures shared by the domain tests: the real application with test-friendly auth settings, and
people with roles on it (a domain's own `api` fixture decides which application that is)."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from server.settings import Settings
from tests.helpers.env import AppClient, make_settings
from tests.helpers.people import Person, person


@pytest.fixture
def auth_settings(database_url: str, settings: Settings) -> Settings:
    """A short session cache so revocation tests wait 0.2 s, not seconds."""
    return make_settings(
        database_url=database_url, session_cache_seconds=0.2, trust_forwarded_for=True
    )


@pytest.fixture
async def api(make_client: AppClient, auth_settings: Settings) -> TestClient:
    return await make_client(auth_settings)


@pytest.fixture
async def creator(api: TestClient) -> Person:
    return await person(api, "creator")


@pytest.fixture
async def moderator(api: TestClient) -> Person:
    return await person(api, "moderator")


@pytest.fixture
async def reader(api: TestClient) -> Person:
    return await person(api)


@pytest.fixture
async def admin(api: TestClient) -> Person:
    return await person(api, "admin")
