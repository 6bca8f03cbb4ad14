"""Catalog test helpers: products made through the API, and the people of the content tests."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.server.content.conftest import (  # noqa: F401  (fixtures)
    Person,
    admin,
    call,
    creator,
    draft,
    moderator,
    person,
    reader,
)


async def product(api: TestClient, who: Person, **fields: Any) -> dict[str, Any]:
    """An active product; a credit pack unless `kind` says otherwise."""
    body: dict[str, Any] = {"kind": "credits", "title": "100 积分", "price": 1000, "credits": 100}
    if fields.get("kind") not in (None, "credits"):
        body.pop("credits")
    body.update({"status": "active", **fields})
    return await call(api, "POST", "/products", who, 201, json=body)


@pytest.fixture
async def other_creator(api: TestClient) -> Person:
    return await person(api, "creator")
