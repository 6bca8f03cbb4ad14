"""Moderation fixtures: the application with the moderation routes and a test word list."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.content.moderation import routes as moderation_routes
from tests.helpers.env import AppClient, make_settings
from tests.helpers.moderation import WORDS, MakeApi
from tests.helpers.people import Person, person


@pytest.fixture
def words_file(tmp_path: Path) -> Path:
    path = tmp_path / "words.txt"
    path.write_text(WORDS, encoding="utf-8")
    return path


@pytest.fixture
def make_api(make_client: AppClient, database_url: str, settings: Any, words_file: Path) -> MakeApi:
    """The full application with the moderation routes, on settings with these overrides."""

    async def start(**overrides: Any) -> TestClient:
        from server.app import ROUTE_TABLES

        values: dict[str, Any] = {
            "database_url": database_url,
            "session_cache_seconds": 0.2,
            "moderation_words_file": words_file,
            **overrides,
        }
        extra = [] if moderation_routes.routes in ROUTE_TABLES else [moderation_routes.routes]
        return await make_client(make_settings(**values), extra_tables=extra)

    return start


@pytest.fixture
async def api(make_api: MakeApi) -> TestClient:
    return await make_api()


@pytest.fixture
async def creator(api: TestClient) -> Person:
    return await person(api, "creator")


@pytest.fixture
async def moderator(api: TestClient) -> Person:
    return await person(api, "moderator")


@pytest.fixture
async def reader(api: TestClient) -> Person:
    return await person(api)
