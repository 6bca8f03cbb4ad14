from __future__ import annotations

from typing import Any

import pytest

from tests.helpers.env import AppClient
from tests.helpers.http import with_header_auth
from tests.server.http import probe


@pytest.fixture
async def probe_client(make_client: AppClient) -> Any:
    """The real application plus the test-only probe routes."""
    return await make_client(extra_tables=[probe.routes], configure=with_header_auth)
