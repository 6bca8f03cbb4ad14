"""Published content in the bench database, shared by B2c (one item) and B3 (a page of 20).

Three authors and 200 published free articles, each with about 9 KB of rendered HTML and three
tags, inserted once per bench database (a marker row says they are there) after migrations.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bench.common import BenchError, log

ITEMS = 200
AUTHORS = 3
MARKER = "bench-content-v1"
PARAGRAPH = "<p>" + "知识付费 knowledge that pays " * 12 + "</p>\n"
HTML = PARAGRAPH * 24  # ~9 KB
ITEM_KEYS = frozenset(
    {
        "id",
        "kind",
        "status",
        "author",
        "title",
        "summary",
        "access",
        "price_cents",
        "currency",
        "category_id",
        "tags",
        "cover_url",
        "published_at",
    }
)
DETAIL_KEYS = ITEM_KEYS | {"html", "preview", "can_read", "parent_id", "position", "chapters"}


@dataclass(frozen=True)
class Seeded:
    detail_id: int


def seed(database_url: str) -> Seeded:
    """Make sure the content is in the (migrated) bench database; the item B2c reads."""
    try:
        return asyncio.run(_seed(database_url))
    except BenchError:
        raise
    except Exception as exc:
        raise BenchError(f"cannot seed bench content: {exc}") from exc


async def _seed(url: str) -> Seeded:
    import asyncmy

    parts = urllib.parse.urlsplit(url)
    conn = await asyncmy.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 3306,
        user=urllib.parse.unquote(parts.username or ""),
        password=urllib.parse.unquote(parts.password or ""),
        db=parts.path.lstrip("/").split("?")[0],
        charset="utf8mb4",
        autocommit=True,
    )
    try:
        async with conn.cursor() as cur:
            await cur.execute("SELECT id FROM categories WHERE slug = %s", (MARKER,))
            if await cur.fetchone() is None:
                log(f"bench: seeding {ITEMS} published articles")
                await _insert(cur)
            await cur.execute(
                "SELECT c.id FROM contents c JOIN categories k ON k.id = c.category_id "
                "WHERE k.slug = %s ORDER BY c.id LIMIT 1",
                (MARKER,),
            )
            row = await cur.fetchone()
            if row is None:
                raise BenchError("seeded content is missing")
            return Seeded(detail_id=row[0])
    finally:
        conn.close()


async def _insert(cur: object) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    execute = cur.execute  # type: ignore[attr-defined]
    await execute(
        "INSERT INTO categories (name, slug, position, created_at) VALUES (%s, %s, 0, %s)",
        ("Bench", MARKER, now),
    )
    await execute("SELECT LAST_INSERT_ID()")
    category = (await cur.fetchone())[0]  # type: ignore[attr-defined]
    authors = []
    for n in range(AUTHORS):
        await execute(
            "INSERT INTO users (email, nickname, roles, status, created_at, updated_at,"
            ' follower_count, following_count) VALUES (%s, %s, \'["reader","creator"]\','
            " 'active', %s, %s, 0, 0)",
            (f"{MARKER}-{n}@example.com", f"作者{n}", now, now),
        )
        await execute("SELECT LAST_INSERT_ID()")
        authors.append((await cur.fetchone())[0])  # type: ignore[attr-defined]
    tags = []
    for name in ("知识付费", "python", "写作", "ai", "效率"):
        await execute(
            "INSERT INTO tags (name, created_at) VALUES (%s, %s)"
            " ON DUPLICATE KEY UPDATE id = LAST_INSERT_ID(id)",
            (name, now),
        )
        await execute("SELECT LAST_INSERT_ID()")
        tags.append((await cur.fetchone())[0])  # type: ignore[attr-defined]
    for n in range(ITEMS):
        at = now - timedelta(minutes=ITEMS - n)
        await execute(
            "INSERT INTO contents (author_id, kind, status, position, category_id, access,"
            " price_cents, currency, title, summary, body, revision, saved_at,"
            " published_version, published_title, published_summary, published_html,"
            " preview_html, published_at, created_at, updated_at)"
            " VALUES (%s, 'article', 'published', 0, %s, 'free', 0, 'CNY', %s, %s, '', 1, %s,"
            " 1, %s, %s, %s, '', %s, %s, %s)",
            (
                authors[n % AUTHORS],
                category,
                f"第{n}篇",
                "摘要",
                at,
                f"第{n}篇：知识付费",
                "一段摘要 a short summary",
                HTML,
                at,
                at,
                at,
            ),
        )
        await execute("SELECT LAST_INSERT_ID()")
        content_id = (await cur.fetchone())[0]  # type: ignore[attr-defined]
        for k in range(3):
            await execute(
                "INSERT INTO content_tags (content_id, tag_id) VALUES (%s, %s)",
                (content_id, tags[(n + k) % len(tags)]),
            )
