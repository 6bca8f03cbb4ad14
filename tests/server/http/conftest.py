from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine

from tests.helpers.env import AppClient
from tests.helpers.http import with_header_auth
from tests.server.http import probe


@pytest.fixture
async def probe_client(make_client: AppClient) -> Any:
    """The real application plus the test-only probe routes."""
    return await make_client(extra_tables=[probe.routes], configure=with_header_auth)


_MINUTES = itertools.count(1)


@pytest.fixture
def fresh_rate_window() -> Iterator[None]:
    """Start the test just after a minute boundary that no earlier test of this process used.

    General rate limits count in fixed windows aligned to the clock, so a test that spends a
    per-minute budget and expects the next request refused would pass one request into a new
    window whenever it straddled a boundary, and two tests in one real minute would share a count.
    """
    minute = int(time.time() // 60) + next(_MINUTES)
    with time_machine.travel(minute * 60 + 0.5, tick=True):
        yield
