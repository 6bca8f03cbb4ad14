"""Content items driven through their lifecycle by the API."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.helpers.people import Person, call


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
