from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from tests.fakes.ai_provider import FakeAIProvider
from tests.helpers.tutor import wire


@pytest.fixture
def embedders(api: TestClient, fake_ai: FakeAIProvider) -> None:
    """The app's AI gateway pointed at the fake provider, which embeds deterministically."""
    wire(api, fake_ai)
