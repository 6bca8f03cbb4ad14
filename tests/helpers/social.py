"""Social helpers: notifications of a person, nicknames, entitlements, comments."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from server.content.items import access
from server.keys import RUNTIME
from tests.helpers.people import Person, call

SOCIAL = ("comment.", "content.liked")


async def notifications_of(api: TestClient, who: Person) -> list[dict[str, Any]]:
    """The person's social notifications, newest first (not the lifecycle ones)."""
    page = await call(api, "GET", "/notifications?limit=100", who, 200)
    return [item for item in page["items"] if item["type"].startswith(SOCIAL)]


async def types_of(api: TestClient, who: Person) -> list[str]:
    return [item["type"] for item in await notifications_of(api, who)]


async def nickname(api: TestClient, who: Person, name: str) -> None:
    await call(api, "PATCH", "/me", who, 200, json={"nickname": name})


async def entitle(api: TestClient, who: Person, content_id: int) -> None:
    runtime = api.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        await access.grant(
            uow.session,
            user_id=who.id,
            subject_type="content",
            subject_id=content_id,
            source="test",
            source_id=f"{who.id}:{content_id}",
            starts_at=runtime.clock.now(),
        )


async def comment(
    api: TestClient, who: Person, content_id: int, body: str, status: int = 201, **extra: Any
) -> Any:
    return await call(
        api,
        "POST",
        f"/contents/{content_id}/comments",
        who,
        status,
        json={"body": body, **extra},
    )
