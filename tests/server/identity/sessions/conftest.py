"""Fixtures for sessions, devices and two-factor tests: a clock that stands still."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from tests.helpers.twofactor import FrozenClock, freeze


@pytest.fixture
def clock(api: TestClient) -> FrozenClock:
    return freeze(api)
