"""Discovery helpers: published items inserted directly, fixed clocks, query counting."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from models.content.items import Content, ContentTag, Tag
from models.social.follows import Follow

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
_titles = itertools.count(1)


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self.at = now

    def now(self) -> datetime:
        return self.at


async def published(
    engine: AsyncEngine,
    author_id: int,
    *,
    at: datetime = NOW,
    tags: tuple[str, ...] = (),
    status: str = "published",
    access: str = "free",
) -> int:
    """A published item (or one in `status`) with tags, inserted in one transaction."""
    n = next(_titles)
    values: dict[str, Any] = {
        "author_id": author_id,
        "kind": "article",
        "status": status,
        "access": access,
        "price_cents": 100 if access == "paid" else 0,
        "currency": "CNY",
        "title": f"t{n}",
        "summary": "",
        "body": "",
        "revision": 1,
        "saved_at": at,
        "published_version": 1 if status in ("published", "archived") else None,
        "published_title": f"title {n}",
        "published_summary": "s",
        "published_html": "<p>x</p>",
        "preview_html": "",
        "published_at": at if status in ("published", "archived") else None,
        "created_at": at,
        "updated_at": at,
        "position": 0,
    }
    async with engine.begin() as conn:
        content_id = int(
            (await conn.execute(insert(Content).values(**values))).inserted_primary_key[0]
        )
        for name in tags:
            tag_id = await conn.scalar(select(Tag.id).where(Tag.name == name))
            if tag_id is None:
                tag_id = (
                    await conn.execute(insert(Tag).values(name=name, created_at=at))
                ).inserted_primary_key[0]
            await conn.execute(insert(ContentTag).values(content_id=content_id, tag_id=tag_id))
    return content_id


async def follow(engine: AsyncEngine, follower_id: int, followee_id: int) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            insert(Follow).values(follower_id=follower_id, followee_id=followee_id, created_at=NOW)
        )


@contextmanager
def counting_queries(sync_engine: Any) -> Iterator[list[str]]:
    """The statements run on `sync_engine` inside the block."""
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(sync_engine, "before_cursor_execute", record)
