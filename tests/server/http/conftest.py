from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web

from server.keys import ROUTES
from tests.conftest import AppClient
from tests.server.http import probe


def with_header_auth(app: web.Application) -> None:
    app[ROUTES].authenticate = probe.header_user


@pytest.fixture
async def probe_client(make_client: AppClient) -> Any:
    """The real application plus the test-only probe routes."""
    return await make_client(extra_tables=[probe.routes], configure=with_header_auth)
