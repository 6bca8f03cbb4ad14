"""An erased account's comments and posts become tombstones, its likes and favorites go, and
every count moves back exactly once."""

from __future__ import annotations

from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from models.content.counters import ContentCounter
from server.content.counters import flush
from server.keys import RUNTIME, SETTINGS
from server.social.comments import erasure
from tests.helpers.content import publish
from tests.helpers.people import Person, call, person
from tests.helpers.social import comment
from tests.jobs.test_worker import run_burst


async def test_forgetting_an_author_keeps_threads_and_moves_counts_back_once(
    api: TestClient, creator: Person, moderator: Person, engine: AsyncEngine
) -> None:
    item = await publish(api, creator, moderator)
    leaving, staying = await person(api), await person(api)
    theirs = await comment(api, leaving, item["id"], "我的评论")
    kept = await comment(api, staying, item["id"], "别人的评论")
    await comment(api, staying, item["id"], "回复", parent_id=theirs["id"])
    await comment(api, leaving, item["id"], "我的回复", parent_id=kept["id"])
    await call(api, "POST", f"/comments/{kept['id']}/like", leaving, 200)
    await call(api, "POST", f"/contents/{item['id']}/like", leaving, 200)
    box = await call(api, "POST", "/me/collections", leaving, 201, json={"name": "收藏"})
    await call(api, "PUT", f"/collections/{box['id']}/items/{item['id']}", leaving, 200)
    topic = await call(api, "POST", "/topics", creator, 201, json={"name": "走", "slug": "go"})
    post = await call(
        api, "POST", f"/topics/{topic['id']}/posts", leaving, 201, json={"title": "t", "body": "b"}
    )

    await call(api, "POST", f"/topics/{topic['id']}/join", leaving, 200)
    runtime = api.app[RUNTIME]
    for _ in range(2):
        await erasure.forget_author(runtime, user_id=leaving.id)
    assert (await run_burst(api.app[SETTINGS], {"runtime": runtime})).jobs_failed == 0
    await flush(runtime)

    thread = await call(api, "GET", f"/comments/{theirs['id']}/thread", None, 200)
    assert thread["root"]["status"] == "deleted" and thread["root"]["body"] is None
    assert [r["body"] for r in thread["replies"]] == ["回复"]
    other = await call(api, "GET", f"/comments/{kept['id']}", None, 200)
    assert (other["reply_count"], other["like_count"]) == (0, 0)
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(
                    ContentCounter.comments, ContentCounter.likes, ContentCounter.favorites
                ).where(ContentCounter.content_id == item["id"])
            )
        ).one()
    assert tuple(row) == (2, 0, 0)  # the two comments of the one staying
    await call(api, "GET", f"/collections/{box['id']}", None, 404)
    await call(api, "GET", f"/posts/{post['id']}", None, 404)
    left = await call(api, "GET", f"/topics/{topic['id']}", None, 200)
    assert (left["post_count"], left["member_count"]) == (0, 0)
