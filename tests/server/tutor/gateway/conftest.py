"""Two fake providers and a gateway routed to both, with timeouts short enough for tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from server.tutor.gateway.client import AIGateway
from tests.fakes.ai_provider import FakeAIProvider
from tests.fakes.base import start

FIRST_BYTE_TIMEOUT = 0.3
IDLE_TIMEOUT = 0.2


@pytest.fixture
async def first(aiohttp_server: Any) -> FakeAIProvider:
    fake = await start(FakeAIProvider(api_key="sk-first-provider-secret-1111"), aiohttp_server)
    assert isinstance(fake, FakeAIProvider)
    return fake


@pytest.fixture
async def second(aiohttp_server: Any) -> FakeAIProvider:
    fake = await start(FakeAIProvider(api_key="sk-second-provider-secret-2222"), aiohttp_server)
    assert isinstance(fake, FakeAIProvider)
    return fake


@pytest.fixture
async def gateway(first: FakeAIProvider, second: FakeAIProvider) -> AsyncIterator[AIGateway]:
    providers = {"first": first.provider("first"), "second": second.provider("second")}
    gateway = AIGateway(
        providers,
        first_byte_timeout=FIRST_BYTE_TIMEOUT,
        idle_timeout=IDLE_TIMEOUT,
        connect_timeout=1.0,
    )
    yield gateway
    await gateway.close()
