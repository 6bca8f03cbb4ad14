from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.fakes.ai_provider import FakeAIProvider
from tests.fakes.base import start
from tests.helpers.tutor import wire


@pytest.fixture
async def fake_ai(aiohttp_server: Any) -> FakeAIProvider:
    fake = FakeAIProvider()
    await start(fake, aiohttp_server)
    return fake


@pytest.fixture
def embedders(api: TestClient, fake_ai: FakeAIProvider) -> None:
    """The app's AI gateway pointed at the fake provider, which embeds deterministically."""
    wire(api, fake_ai)
