"""Fixtures of the identity tests: the app the live-socket tests of sessions and admin share."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.helpers.realtime import realtime_settings


@pytest.fixture
async def live(make_client: Any, database_url: str) -> TestClient:
    """The app with sockets re-checked every 0.1 s and sessions cached for 0.2 s."""
    client: TestClient = await make_client(
        realtime_settings(database_url, trust_forwarded_for=True)
    )
    return client
