"""Wallet fixtures: an app without tight rate limits."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from server.settings import Settings
from tests.helpers.env import AppClient, make_settings


@pytest.fixture
def wallet_settings(database_url: str, settings: Settings) -> Settings:
    return make_settings(
        database_url=database_url,
        rate_limit_ip="100000/minute",
        rate_limit_account="100000/minute",
        database_pool_size=20,
    )


@pytest.fixture
async def api(make_client: AppClient, wallet_settings: Settings) -> TestClient:
    return await make_client(wallet_settings)
