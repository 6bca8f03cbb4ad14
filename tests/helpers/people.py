"""People with roles, created directly and signed in, and API calls made as one of them."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestClient

from server.identity.auth import service as auth_service
from server.keys import RUNTIME
from tests.helpers.auth import PASSWORD, bearer, login

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


async def call(
    api: TestClient, method: str, path: str, who: Person | None, status: int, **kwargs: Any
) -> Any:
    response = await api.request(
        method, f"/api/v1{path}", headers=who.headers if who else {}, **kwargs
    )
    data = await response.json() if response.status != 204 else None
    assert response.status == status, data
    return data
