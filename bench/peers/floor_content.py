"""The B2c/B3 floor: published content on bare aiohttp + uvloop + orjson + an asyncmy pool.

    DATABASE_URL=mysql+asyncmy://u:p@127.0.0.1:3306/db \\
        python -m bench.peers.floor_content --port 8081

``GET /api/v1/contents/{id}``: the item joined to its author by primary key, then its tags (two
round trips; counters by a LEFT JOIN). ``GET /api/v1/contents?limit=20``: the page of published
items by ``(published_at, id)``, then the page's tags, authors and counters (four round trips),
the same statements ours runs. Free items are readable by anyone, so no entitlement query (ours
makes none either for them). No middleware, no access policy code, no validation.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncmy
import orjson
import uvloop
from aiohttp import web
from asyncmy.pool import Pool

from bench.peers.floor_me import healthz, pool_arguments

POOL = web.AppKey("pool", Pool)
COLUMNS = (
    "c.id, c.kind, c.status, c.author_id, c.parent_id, c.access, c.price_cents, c.currency,"
    " c.category_id, c.cover_url, c.published_title, c.published_summary, c.published_at"
)
COUNTERS = ("views", "likes", "favorites", "comments", "shares")
DETAIL_SQL = (
    f"SELECT {COLUMNS}, u.nickname, u.avatar_url, c.position, c.published_html,"
    " k.views, k.likes, k.favorites, k.comments, k.shares"
    " FROM contents c JOIN users u ON u.id = c.author_id"
    " LEFT JOIN content_counters k ON k.content_id = c.id"
    " WHERE c.id = %s AND c.published_version IS NOT NULL"
)
LIST_SQL = (
    f"SELECT {COLUMNS} FROM contents c WHERE c.status = 'published'"
    " ORDER BY c.published_at DESC, c.id DESC LIMIT %s"
)


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=UTC)


def _summary(row: tuple[Any, ...], author: dict[str, Any], tags: list[str]) -> dict[str, Any]:
    return {
        "id": row[0],
        "kind": row[1],
        "status": row[2],
        "author": author,
        "title": row[10] or "",
        "summary": row[11] or "",
        "access": row[5],
        "price_cents": row[6],
        "currency": row[7],
        "category_id": row[8],
        "tags": tags,
        "cover_url": row[9],
        "published_at": _utc(row[12]),
    }


async def _tags(cursor: Any, ids: list[int]) -> dict[int, list[str]]:
    tags: dict[int, list[str]] = {i: [] for i in ids}
    if ids:
        marks = ",".join(["%s"] * len(ids))
        await cursor.execute(
            "SELECT ct.content_id, t.name FROM content_tags ct JOIN tags t ON t.id = ct.tag_id"
            f" WHERE ct.content_id IN ({marks}) ORDER BY t.name",
            ids,
        )
        for content_id, name in await cursor.fetchall():
            tags[content_id].append(name)
    return tags


async def _counters(cursor: Any, ids: list[int]) -> dict[int, dict[str, int]]:
    counters = {i: dict.fromkeys(COUNTERS, 0) for i in ids}
    if ids:
        marks = ",".join(["%s"] * len(ids))
        await cursor.execute(
            f"SELECT content_id, {', '.join(COUNTERS)} FROM content_counters"
            f" WHERE content_id IN ({marks})",
            ids,
        )
        for row in await cursor.fetchall():
            counters[row[0]] = dict(zip(COUNTERS, row[1:], strict=True))
    return counters


def _json(body: Any) -> web.Response:
    return web.Response(
        body=orjson.dumps(body, option=orjson.OPT_UTC_Z), content_type="application/json"
    )


async def detail(request: web.Request) -> web.Response:
    content_id = int(request.match_info["content_id"])
    async with request.app[POOL].acquire() as conn, conn.cursor() as cursor:
        await cursor.execute(DETAIL_SQL, (content_id,))
        row = await cursor.fetchone()
        if row is None:
            return web.json_response({"error": {"code": "content.not_found"}}, status=404)
        tags = await _tags(cursor, [row[0]])
    author = {"id": row[3], "nickname": row[13], "avatar_url": row[14]}
    body = _summary(row, author, tags[row[0]])
    body.update(
        html=row[16] or "",
        preview=False,
        can_read=True,
        parent_id=row[4],
        position=row[15],
        chapters=None,
    )
    return _json(body)


async def listing(request: web.Request) -> web.Response:
    limit = int(request.query.get("limit", "20"))
    async with request.app[POOL].acquire() as conn, conn.cursor() as cursor:
        await cursor.execute(LIST_SQL, (limit + 1,))
        rows = await cursor.fetchall()
        shown = rows[:limit]
        tags = await _tags(cursor, [r[0] for r in shown])
        author_ids = sorted({r[3] for r in shown})
        authors: dict[int, dict[str, Any]] = {}
        if author_ids:
            marks = ",".join(["%s"] * len(author_ids))
            await cursor.execute(
                f"SELECT id, nickname, avatar_url FROM users WHERE id IN ({marks})", author_ids
            )
            for user_id, nickname, avatar in await cursor.fetchall():
                authors[user_id] = {"id": user_id, "nickname": nickname, "avatar_url": avatar}
        counters = await _counters(cursor, [r[0] for r in shown])
    items = [{**_summary(r, authors[r[3]], tags[r[0]]), "counters": counters[r[0]]} for r in shown]
    next_cursor = "more" if len(rows) > limit else None
    return _json({"items": items, "next_cursor": next_cursor})


def make_app(url: str, pool_size: int) -> web.Application:
    app = web.Application()

    async def pool_context(app: web.Application) -> AsyncIterator[None]:
        pool = await asyncmy.create_pool(**pool_arguments(url, pool_size))
        app[POOL] = pool
        yield
        pool.close()
        await pool.wait_closed()

    app.cleanup_ctx.append(pool_context)
    app.router.add_get("/api/v1/contents/{content_id}", detail)
    app.router.add_get("/api/v1/contents", listing)
    app.router.add_get("/healthz", healthz)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = make_app(os.environ["DATABASE_URL"], int(os.environ.get("DATABASE_POOL_SIZE", "10")))
    web.run_app(
        app,
        host=args.host,
        port=args.port,
        access_log=None,
        print=None,
        loop=uvloop.new_event_loop(),
    )


if __name__ == "__main__":
    main()
