"""Search helpers: a search call, and every id a query finds."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp.test_utils import TestClient

from tests.helpers.people import Person, call


async def search(
    api: TestClient, who: Person | None = None, status: int = 200, **params: Any
) -> Any:
    return await call(api, "GET", f"/search?{urlencode(params)}", who, status)


async def found(api: TestClient, q: str, who: Person | None = None, **params: Any) -> list[int]:
    """Ids of every item the query finds, walking all pages."""
    ids: list[int] = []
    cursor = None
    while True:
        extra: dict[str, str] = {"cursor": cursor} if cursor else {}
        page = await search(api, who, q=q, **params, **extra)
        ids += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return ids
