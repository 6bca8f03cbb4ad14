"""Subscription fixtures: the app's runtime, and a clock the test moves."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from aiohttp.test_utils import TestClient

from server.keys import RUNTIME
from server.runtime import Runtime
from tests.helpers.subscriptions import (
    MovableClock,
)


@pytest.fixture
def runtime(api: TestClient) -> Runtime:
    return api.app[RUNTIME]


@pytest.fixture
def clock(runtime: Runtime) -> MovableClock:
    # 2027-01-31 10:00 in Shanghai: the month-end clamping shows at the first renewal.
    moving = MovableClock(datetime(2027, 1, 31, 2, 0, tzinfo=UTC))
    runtime.clock = moving
    return moving
