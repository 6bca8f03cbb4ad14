"""What the tutor's tests share: the fake AI provider (OpenAI's wire format), an app wired to it
on the `tutor_settings` of the tests' folder, and a signed-in learner."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.settings import Settings
from tests.fakes.ai_provider import FakeAIProvider
from tests.fakes.base import start
from tests.helpers.env import AppClient, make_settings
from tests.helpers.people import Person, person
from tests.helpers.tutor import wire


@pytest.fixture
def tutor_settings(database_url: str, settings: Settings) -> Settings:
    """Deltas, checkpoints and screening windows short enough for tests."""
    return make_settings(
        database_url=database_url,
        ai_providers="fake",
        tutor_delta_interval_ms=20,
        tutor_checkpoint_seconds=0.05,
    )


@pytest.fixture
async def fake_ai(aiohttp_server: Any) -> FakeAIProvider:
    fake = FakeAIProvider()
    await start(fake, aiohttp_server)
    return fake


@pytest.fixture
async def api(
    make_client: AppClient, tutor_settings: Settings, fake_ai: FakeAIProvider
) -> TestClient:
    client = await make_client(tutor_settings)
    wire(client, fake_ai)
    return client


@pytest.fixture
async def learner(api: TestClient) -> Person:
    return await person(api)
