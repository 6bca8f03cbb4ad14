"""Content test helpers: people with roles, and items driven through their lifecycle."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.identity.auth import service as auth_service
from server.keys import RUNTIME
from tests.server.identity.auth.conftest import PASSWORD, bearer, login

_numbers = itertools.count(1)


@dataclass
class Person:
    id: int
    headers: dict[str, str]


async def person(api: TestClient, *roles: str) -> Person:
    """A signed-in account holding `roles` (reader always)."""
    email = f"user{next(_numbers)}@example.com"
    runtime = api.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        user_id = await auth_service.create_user(
            uow.session,
            runtime.pii,
            email=email,
            phone=None,
            password=PASSWORD,
            nickname=None,
            roles=["reader", *roles],
        )
    data = await login(api, email=email)
    return Person(user_id, bearer(data["access_token"]))


@pytest.fixture
async def creator(api: TestClient) -> Person:
    return await person(api, "creator")


@pytest.fixture
async def moderator(api: TestClient) -> Person:
    return await person(api, "moderator")


@pytest.fixture
async def reader(api: TestClient) -> Person:
    return await person(api)


@pytest.fixture
async def admin(api: TestClient) -> Person:
    return await person(api, "admin")


async def call(
    api: TestClient, method: str, path: str, who: Person | None, status: int, **kwargs: Any
) -> Any:
    response = await api.request(
        method, f"/api/v1{path}", headers=who.headers if who else {}, **kwargs
    )
    data = await response.json() if response.status != 204 else None
    assert response.status == status, data
    return data


async def draft(api: TestClient, author: Person, **fields: Any) -> dict[str, Any]:
    body = {"kind": "article", "title": "知识付费入门", "body": "Free part.\n", **fields}
    return await call(api, "POST", "/contents", author, 201, json=body)


async def publish(
    api: TestClient, author: Person, moderator: Person, **fields: Any
) -> dict[str, Any]:
    """A new item, submitted by its author and approved: published."""
    item = await draft(api, author, **fields)
    await call(api, "POST", f"/contents/{item['id']}/submit", author, 200, json={})
    return await call(
        api, "POST", f"/moderation/contents/{item['id']}/approve", moderator, 200, json={}
    )
