"""Likes and favorites: idempotent, counted, notified; private collections stay private."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from jobs.tasks import FUNCTIONS
from models.content.counters import ContentCounter
from models.platform import OutboxMessage
from server.content.counters import RECORD_TASK, flush, record_changes
from server.content.items.access import Viewer
from server.keys import RUNTIME, SETTINGS
from server.runtime import Runtime
from server.social.reactions import service
from tests.helpers.content import publish
from tests.helpers.people import Person, call, person
from tests.helpers.social import notifications_of
from tests.jobs.test_worker import run_burst


async def counters(api: TestClient, engine: AsyncEngine, content_id: int) -> tuple[int, int]:
    """The item's likes and favorites once the worker ran the counter jobs of the outbox."""
    worker = await run_burst(api.app[SETTINGS], {"runtime": api.app[RUNTIME]})
    assert worker.jobs_failed == 0
    await flush(api.app[RUNTIME])
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(ContentCounter.likes, ContentCounter.favorites).where(
                    ContentCounter.content_id == content_id
                )
            )
        ).one()
    return row.likes, row.favorites


async def test_likes_are_idempotent_counted_and_folded_for_the_author(
    api: TestClient, creator: Person, moderator: Person, reader: Person, engine: AsyncEngine
) -> None:
    item = await publish(api, creator, moderator)
    other = await person(api)
    for who in (reader, reader, other):
        liked = await call(api, "POST", f"/contents/{item['id']}/like", who, 200)
        assert liked == {"content_id": item["id"], "liked": True}
    await call(api, "POST", f"/contents/{item['id']}/like", creator, 200)  # own: no notice
    assert await counters(api, engine, item["id"]) == (3, 0)
    notes = [n for n in await notifications_of(api, creator) if n["type"] == "content.liked"]
    assert len(notes) == 1  # two likers, one folded notification
    assert notes[0]["data"] == {"content_id": item["id"]}
    mine = await call(api, "GET", "/me/likes", reader, 200)
    assert [i["content_id"] for i in mine["items"]] == [item["id"]]
    for _ in range(2):
        await call(api, "DELETE", f"/contents/{item['id']}/like", reader, 200)
    assert await counters(api, engine, item["id"]) == (2, 0)
    assert (await call(api, "GET", "/me/likes", reader, 200))["items"] == []
    await call(api, "POST", "/contents/999999/like", reader, 404)
    await call(api, "POST", f"/contents/{item['id']}/like", None, 401)


async def test_my_likes_page_newest_first(
    api: TestClient, creator: Person, moderator: Person, reader: Person
) -> None:
    items = [await publish(api, creator, moderator, title=f"第{n}篇") for n in range(3)]
    for item in items:
        await call(api, "POST", f"/contents/{item['id']}/like", reader, 200)
    first = await call(api, "GET", "/me/likes?limit=2", reader, 200)
    rest = await call(api, "GET", f"/me/likes?limit=2&cursor={first['next_cursor']}", reader, 200)
    seen = [i["content_id"] for i in first["items"] + rest["items"]]
    assert seen == [item["id"] for item in items[::-1]] and rest["next_cursor"] is None
    assert first["items"][0]["title"] == "第2篇"


async def test_collections_hold_favorites_and_count_people_not_copies(
    api: TestClient, creator: Person, moderator: Person, reader: Person, engine: AsyncEngine
) -> None:
    item = await publish(api, creator, moderator)
    study = await call(api, "POST", "/me/collections", reader, 201, json={"name": "学习"})
    later = await call(
        api, "POST", "/me/collections", reader, 201, json={"name": "稍后读", "is_public": True}
    )
    taken = await call(api, "POST", "/me/collections", reader, 409, json={"name": "学习"})
    assert taken["error"]["code"] == "favorites.name_taken"
    for collection in (study, later, later):
        saved = await call(
            api, "PUT", f"/collections/{collection['id']}/items/{item['id']}", reader, 200
        )
        assert saved["saved"] is True
    assert await counters(api, engine, item["id"]) == (0, 1)
    mine = await call(api, "GET", f"/contents/{item['id']}/my_reactions", reader, 200)
    assert mine == {
        "content_id": item["id"],
        "liked": False,
        "collection_ids": sorted([study["id"], later["id"]]),
    }
    listed = await call(api, "GET", f"/collections/{later['id']}/items", reader, 200)
    assert [i["content_id"] for i in listed["items"]] == [item["id"]]
    assert (await call(api, "GET", f"/collections/{later['id']}", reader, 200))["item_count"] == 1
    await call(api, "DELETE", f"/collections/{study['id']}/items/{item['id']}", reader, 200)
    assert await counters(api, engine, item["id"]) == (0, 1)
    await call(api, "DELETE", f"/collections/{later['id']}", reader, 204)
    assert await counters(api, engine, item["id"]) == (0, 0)
    renamed = await call(
        api, "PATCH", f"/collections/{study['id']}", reader, 200, json={"name": "精读"}
    )
    assert renamed["name"] == "精读"
    mine = await call(api, "GET", "/me/collections", reader, 200)
    assert [c["name"] for c in mine["items"]] == ["精读"]


async def test_a_collection_is_public_only_by_true_never_by_a_number(
    api: TestClient, reader: Person
) -> None:
    for value in (0, 1, "true", "0"):
        refused = await call(
            api, "POST", "/me/collections", reader, 422, json={"name": "学", "is_public": value}
        )
        assert set(refused["error"]["fields"]) == {"body.is_public"}, value
    made = await call(api, "POST", "/me/collections", reader, 201, json={"name": "学"})
    assert made["is_public"] is False
    path = f"/collections/{made['id']}"
    await call(api, "PATCH", path, reader, 422, json={"is_public": 1})
    assert (await call(api, "PATCH", path, reader, 200, json={"is_public": True}))["is_public"]


async def test_private_collections_are_404_to_everyone_else(
    api: TestClient, creator: Person, moderator: Person, reader: Person
) -> None:
    item = await publish(api, creator, moderator)
    secret = await call(api, "POST", "/me/collections", reader, 201, json={"name": "私藏"})
    shown = await call(
        api, "POST", "/me/collections", reader, 201, json={"name": "分享", "is_public": True}
    )
    await call(api, "PUT", f"/collections/{shown['id']}/items/{item['id']}", reader, 200)
    other = await person(api)
    for who in (other, None):
        await call(api, "GET", f"/collections/{secret['id']}", who, 404)
        await call(api, "GET", f"/collections/{secret['id']}/items", who, 404)
        items = await call(api, "GET", f"/collections/{shown['id']}/items", who, 200)
        assert [i["content_id"] for i in items["items"]] == [item["id"]]
        public = await call(api, "GET", f"/users/{reader.id}/collections", who, 200)
        assert [c["id"] for c in public["items"]] == [shown["id"]]
    own = await call(api, "GET", f"/users/{reader.id}/collections", reader, 200)
    assert len(own["items"]) == 2
    path = f"/collections/{shown['id']}"
    await call(api, "PATCH", path, other, 404, json={"name": "抢了"})
    await call(api, "DELETE", path, other, 404)
    await call(api, "PUT", f"{path}/items/{item['id']}", other, 404)
    await call(api, "DELETE", f"{path}/items/{item['id']}", other, 404)
    await call(api, "GET", path, other, 200)


async def test_a_draft_cannot_be_liked_or_saved(
    api: TestClient, creator: Person, reader: Person
) -> None:
    item = await call(
        api, "POST", "/contents", creator, 201, json={"kind": "article", "title": "草稿"}
    )
    await call(api, "POST", f"/contents/{item['id']}/like", reader, 404)
    box = await call(api, "POST", "/me/collections", reader, 201, json={"name": "盒子"})
    await call(api, "PUT", f"/collections/{box['id']}/items/{item['id']}", reader, 404)


async def test_with_redis_unreachable_a_counter_job_fails_and_its_retry_counts_once(
    api: TestClient, creator: Person, moderator: Person, engine: AsyncEngine
) -> None:
    item = await publish(api, creator, moderator)
    runtime = api.app[RUNTIME]
    change = {"change_id": "like-1", "field": "likes", "changes": {str(item["id"]): 1}}
    working = runtime.redis
    runtime.redis = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    try:
        with pytest.raises((RedisError, OSError)):  # the job fails, so the queue retries it
            await record_changes(runtime, **change)
    finally:
        await runtime.redis.aclose()
        runtime.redis = working
    assert await record_changes(runtime, **change) is True
    assert await record_changes(runtime, **change) is False  # a second run counts nothing
    assert await counters(api, engine, item["id"]) == (1, 0)


async def test_a_like_and_its_count_commit_or_roll_back_together_through_the_outbox(
    api: TestClient,
    creator: Person,
    moderator: Person,
    reader: Person,
    runtime: Runtime,
    engine: AsyncEngine,
) -> None:
    item = await publish(api, creator, moderator)
    viewer = Viewer(reader.id, frozenset({"reader"}))
    # `runtime` relays nothing: what its units of work write to the outbox stays to be read.
    with pytest.raises(LookupError):
        async with runtime.db.unit_of_work() as uow:
            await service.like(uow, viewer=viewer, content_id=item["id"], now=runtime.clock.now())
            raise LookupError("the process dies before the commit")
    assert await counter_jobs(engine) == []
    async with runtime.db.unit_of_work() as uow:
        await service.like(uow, viewer=viewer, content_id=item["id"], now=runtime.clock.now())
    # The process may die right after the commit: the job is committed with the like.
    [job] = await counter_jobs(engine)
    assert (job["field"], job["changes"]) == ("likes", {str(item["id"]): 1})
    record = FUNCTIONS[RECORD_TASK].coroutine
    assert await record({"runtime": runtime}, **job) is True
    assert await record({"runtime": runtime}, **job) is False, "a job run twice counts once"
    assert await counters(api, engine, item["id"]) == (1, 0)


async def counter_jobs(engine: AsyncEngine) -> list[dict[str, Any]]:
    """The arguments of the counter jobs waiting in the outbox."""
    async with engine.connect() as conn:
        payloads = await conn.scalars(
            select(OutboxMessage.payload).where(OutboxMessage.name == RECORD_TASK)
        )
        return [payload["kwargs"] for payload in payloads]
