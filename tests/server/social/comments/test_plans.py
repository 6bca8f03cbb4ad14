"""Hot lists read their indexes in order (no filesort on MariaDB) and run a constant number of
queries whatever the page size."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import event, insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from models.social.comments import Comment, CommentLike
from models.social.community import Post, Topic
from server.content.items.access import Viewer
from server.keys import RUNTIME
from server.social.comments import queries as comment_queries
from server.social.community import queries as community_queries
from tests.helpers.content import publish
from tests.helpers.people import Person, person


async def plan_of(api: TestClient, engine: AsyncEngine, statement: Any, table: str) -> Any:
    dialect = api.app[RUNTIME].db.engine.dialect
    sql = str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    async with engine.connect() as conn:
        await conn.execute(text(f"ANALYZE TABLE {table}"))
        [row] = [dict(r._mapping) for r in await conn.execute(text(f"EXPLAIN {sql}"))]
    return row


async def _comments(engine: AsyncEngine, *, content_id: int, authors: list[Person]) -> None:
    now = datetime.now(UTC)
    roots = [
        {
            "target_type": ("content", "post")[n % 5 == 4],
            "target_id": content_id if n % 3 != 2 else content_id + 1000,
            "author_id": authors[n % len(authors)].id,
            "body": f"评论 {n}",
            "status": "visible",
            "like_count": n % 7,
            "reply_count": 0,
            "hot_score": n % 7,
            "created_at": now,
        }
        for n in range(400)
    ]
    async with engine.begin() as conn:
        await conn.execute(insert(Comment), roots)
        first = await conn.scalar(text("SELECT MIN(id) FROM comments"))
        replies = [
            {
                **roots[0],
                "target_type": "content",
                "target_id": content_id,
                "parent_id": first,
                "root_id": first,
                "body": f"回复 {n}",
            }
            for n in range(100)
        ]
        await conn.execute(insert(Comment), replies)


@pytest.mark.parametrize("sort", ["new", "hot"])
@pytest.mark.parametrize("position", [None, {"h": 3, "id": 10**9}])
async def test_comment_lists_walk_their_index_without_sorting(
    api: TestClient,
    creator: Person,
    moderator: Person,
    engine: AsyncEngine,
    sort: str,
    position: dict[str, int] | None,
) -> None:
    item = await publish(api, creator, moderator)
    await _comments(engine, content_id=item["id"], authors=[creator, moderator])
    statement = comment_queries.roots_statement(
        target_type="content", target_id=item["id"], sort=sort, position=position, limit=21
    )
    row = await plan_of(api, engine, statement, "comments")
    assert row["key"] == f"ix_comments_target_{sort}", row
    assert "filesort" not in (row["Extra"] or ""), row
    async with engine.connect() as conn:
        first = await conn.scalar(text("SELECT MIN(id) FROM comments"))
    replies = comment_queries.replies_statement(root_id=first, after=position and 5, limit=21)
    row = await plan_of(api, engine, replies, "comments")
    assert row["key"] == "ix_comments_root_id_id", row
    assert "filesort" not in (row["Extra"] or ""), row
    held = comment_queries.held_statement(status="pending", after=position and 5, limit=21)
    row = await plan_of(api, engine, held, "comments")
    assert row["key"] == "ix_comments_status_id", row
    assert "filesort" not in (row["Extra"] or ""), row


@pytest.mark.parametrize("sort", ["new", "hot"])
@pytest.mark.parametrize("position", [None, {"p": 0, "h": 2, "id": 10**9}])
async def test_post_lists_walk_their_index_without_sorting(
    api: TestClient,
    creator: Person,
    engine: AsyncEngine,
    sort: str,
    position: dict[str, int] | None,
) -> None:
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        for n in range(3):
            await conn.execute(
                insert(Topic).values(
                    name=f"t{n}",
                    slug=f"t{n}",
                    description="",
                    creator_id=creator.id,
                    post_count=0,
                    created_at=now,
                )
            )
        topic_id = await conn.scalar(text("SELECT MIN(id) FROM topics"))
        posts = [
            {
                "topic_id": topic_id + n % 3,
                "author_id": creator.id,
                "title": f"帖 {n}",
                "body": "正文",
                "pinned": n % 50 == 0,
                "locked": False,
                "status": ("visible", "hidden")[n % 11 == 0],
                "reply_count": n % 5,
                "hot_score": n % 5,
                "created_at": now,
            }
            for n in range(400)
        ]
        await conn.execute(insert(Post), posts)
    statement = community_queries.posts_statement(
        topic_id=topic_id, sort=sort, position=position, limit=21
    )
    row = await plan_of(api, engine, statement, "posts")
    assert row["key"] == f"ix_posts_topic_{sort}", row
    assert "filesort" not in (row["Extra"] or ""), row


async def test_a_comment_page_runs_the_same_queries_whatever_its_size(
    api: TestClient, creator: Person, moderator: Person, engine: AsyncEngine
) -> None:
    item = await publish(api, creator, moderator)
    fans = [await person(api) for _ in range(3)]
    await _comments(engine, content_id=item["id"], authors=[creator, moderator, *fans])
    async with engine.begin() as conn:
        ids = list(await conn.scalars(text("SELECT id FROM comments ORDER BY id LIMIT 50")))
        await conn.execute(
            insert(CommentLike),
            [
                {"comment_id": i, "user_id": fans[0].id, "created_at": datetime.now(UTC)}
                for i in ids
            ],
        )
    runtime = api.app[RUNTIME]
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    sync_engine = runtime.db.engine.sync_engine
    viewer = Viewer(fans[0].id, frozenset({"reader"}))
    event.listen(sync_engine, "before_cursor_execute", count)
    sizes = []
    try:
        for limit in (3, 60):
            statements.clear()
            async with runtime.db.connection() as conn:
                page = await comment_queries.list_comments(
                    conn,
                    viewer=viewer,
                    target_type="content",
                    target_id=item["id"],
                    sort="hot",
                    limit=limit,
                    cursor=None,
                    now=runtime.clock.now(),
                )
                thread = await comment_queries.get_thread(
                    conn,
                    viewer=viewer,
                    comment_id=ids[0],
                    limit=limit,
                    cursor=None,
                    now=runtime.clock.now(),
                )
            sizes.append((len(page.items), len(thread.replies), len(statements)))
    finally:
        event.remove(sync_engine, "before_cursor_execute", count)
    assert [size[:2] for size in sizes] == [(3, 3), (60, 60)]
    assert sizes[0][2] == sizes[1][2], sizes
    assert any(comment.liked for comment in page.items)
