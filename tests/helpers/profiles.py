"""People who signed up, for the profile and follow tests; user rows changed directly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select, update

from models.identity.users import User
from server.identity.auth import service as auth_service
from server.identity.auth.schemas import SignedIn
from server.keys import RUNTIME, TOKENS
from tests.helpers.auth import bearer, register


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


async def many(client: TestClient, count: int, prefix: str = "Reader") -> list[Person]:
    """`count` signed-in people at once (no passwords, so no hashing time)."""
    runtime, tokens = client.app[RUNTIME], client.app[TOKENS]
    people = []
    async with runtime.db.unit_of_work() as uow:
        for n in range(count):
            user_id = await auth_service.create_user(
                uow.session,
                runtime.pii,
                email=f"{prefix.lower()}{n}@example.com",
                phone=None,
                password=None,
                nickname=f"{prefix}{n}",
                now=runtime.clock.now(),
            )
            signed = await auth_service.complete_sign_in(
                uow.session,
                tokens=tokens,
                user_id=user_id,
                client=auth_service.Client(),
                now=runtime.clock.now(),
            )
            assert isinstance(signed, SignedIn)
            people.append(Person(user_id, bearer(signed.access_token)))
    return people
