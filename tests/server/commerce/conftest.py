"""Commerce fixtures: a second creator (the people of every domain come from tests/server)."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from tests.helpers.people import Person, person


@pytest.fixture
async def other_creator(api: TestClient) -> Person:
    return await person(api, "creator")
