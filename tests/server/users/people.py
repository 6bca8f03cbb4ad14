"""Helpers for the profile and follow tests: people who signed up, rows changed directly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select, update

from models.identity import User
from server.keys import RUNTIME
from tests.server.auth.conftest import bearer, register


@dataclass(frozen=True)
class Person:
    id: int
    headers: dict[str, str]


async def sign_up(client: TestClient, name: str) -> Person:
    data = await register(client, email=f"{name.lower()}@example.com", nickname=name)
    return Person(data["user"]["id"], bearer(data["access_token"]))


async def set_columns(client: TestClient, user_id: int, **values: Any) -> None:
    """Change a user's row directly (roles, status), as an admin action or a migration would."""
    async with client.app[RUNTIME].db.unit_of_work() as uow:
        await uow.session.execute(update(User).where(User.id == user_id).values(**values))


async def column(client: TestClient, user_id: int, name: str) -> Any:
    async with client.app[RUNTIME].db.read() as session:
        return await session.scalar(select(getattr(User, name)).where(User.id == user_id))


async def json_of(response: Any, status: int) -> Any:
    body = await response.json()
    assert response.status == status, body
    return body
