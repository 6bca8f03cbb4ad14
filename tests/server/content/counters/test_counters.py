"""Counters: exact under concurrent increments and flushes, views counted once per viewer,
shares by channel, one room event per item per flush, and the embedded mode."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from models.content.counters import ContentCounter, ContentShareChannel, CounterFlush
from models.platform import OutboxMessage
from server.app import create_app
from server.content import counters
from server.content.counters import keys
from server.content.counters.recording import UnknownCounter
from server.keys import JOB_RUNNER, RUNTIME
from server.runtime import Runtime
from server.settings import Settings
from tests.helpers.content import publish
from tests.helpers.discovery import published
from tests.helpers.env import make_settings, migrated_embedded_settings
from tests.helpers.people import Person, call, person


async def totals(engine: Any, content_id: int) -> dict[str, int]:
    async with engine.connect() as conn:
        return (await counters.counters_of(conn, [content_id]))[content_id]


async def test_concurrent_increments_and_two_concurrent_flushes_count_every_one_once(
    api: Any, creator: Person, engine: Any
) -> None:
    runtime = api.app[RUNTIME]
    items = [await published(engine, creator.id) for _ in range(3)]

    async def burst(content_id: int) -> None:
        for n in range(40):
            await counters.record(runtime, content_id, "views", 1)
            if n % 4 == 0:
                await counters.record(runtime, content_id, "likes", 1)
            if n % 10 == 0:
                await counters.record(runtime, content_id, "comments", 2)

    # Increments race flushes: each increment lands either before a claim or after it.
    work = [burst(i) for i in items for _ in range(3)]
    flushes = [counters.flush(runtime) for _ in range(6)]
    await asyncio.gather(*work, *flushes)
    await asyncio.gather(counters.flush(runtime), counters.flush(runtime))
    await counters.flush(runtime)
    for content_id in items:
        assert await totals(engine, content_id) == {
            "views": 120,
            "likes": 30,
            "favorites": 0,
            "comments": 24,
            "shares": 0,
        }
    assert not await runtime.redis.exists(keys.dirty_key(runtime.settings))
    assert await runtime.redis.zcard(keys.batches_key(runtime.settings)) == 0


async def test_a_batch_left_by_a_dead_flush_is_applied_once_by_a_later_one(
    api: Any, creator: Person, engine: Any
) -> None:
    runtime = api.app[RUNTIME]
    settings = runtime.settings
    content_id = await published(engine, creator.id)
    redis = runtime.redis
    old = int(time.time() * 1000) - 3_600_000

    async def leave_batch(batch_id: str) -> None:
        await redis.hset(keys.batch_key(settings, batch_id), f"{content_id}:views", 5)
        await redis.zadd(keys.batches_key(settings), {batch_id: old})

    await leave_batch("a" * 32)  # claimed, then the flush died before the commit
    await counters.flush(runtime)
    assert (await totals(engine, content_id))["views"] == 5
    await leave_batch("a" * 32)  # committed, then the flush died before deleting it
    await counters.flush(runtime)
    assert (await totals(engine, content_id))["views"] == 5
    await leave_batch("b" * 32)
    await asyncio.gather(counters.flush(runtime), counters.flush(runtime))
    assert (await totals(engine, content_id))["views"] == 10
    async with engine.connect() as conn:
        applied = set(await conn.scalars(select(CounterFlush.batch_id)))
    assert {"a" * 32, "b" * 32} <= applied


async def test_a_fresh_claim_is_not_taken_for_a_stale_one(
    api: Any, creator: Person, engine: Any
) -> None:
    runtime = api.app[RUNTIME]
    content_id = await published(engine, creator.id)
    now = int(time.time() * 1000)
    await runtime.redis.hset(keys.batch_key(runtime.settings, "c" * 32), f"{content_id}:views", 3)
    await runtime.redis.zadd(keys.batches_key(runtime.settings), {"c" * 32: now})
    assert await counters.flush(runtime) == 0, "another flush may still be applying it"
    assert (await totals(engine, content_id))["views"] == 0


async def test_increments_of_a_deleted_item_are_dropped(
    api: Any, creator: Person, engine: Any
) -> None:
    runtime = api.app[RUNTIME]
    await counters.record(runtime, 10**9, "likes", 1)
    assert await counters.flush(runtime) == 0
    async with engine.connect() as conn:
        assert (await conn.scalar(select(ContentCounter.content_id))) is None


async def test_unknown_counters_are_refused(api: Any) -> None:
    runtime = api.app[RUNTIME]
    with pytest.raises(UnknownCounter):
        await counters.record(runtime, 1, "stars", 1)
    with pytest.raises(UnknownCounter):
        await counters.record_share(runtime, content_id=1, channel="fax")


async def test_a_view_counts_once_per_viewer_within_the_window(
    api: Any, creator: Person, moderator: Person, reader: Person
) -> None:
    item = await publish(api, creator, moderator)
    path = f"/contents/{item['id']}"
    other = await person(api)
    for who in (reader, reader, other, reader):
        await call(api, "GET", path, who, 200)
    for ip in ("203.0.113.1", "203.0.113.1", "203.0.113.2"):
        response = await api.get(f"/api/v1{path}", headers={"X-Forwarded-For": ip})
        assert response.status == 200
    runtime = api.app[RUNTIME]
    await counters.flush(runtime)
    data = await call(api, "GET", path, reader, 200)
    assert data["counters"] == {
        "views": 4,
        "likes": 0,
        "favorites": 0,
        "comments": 0,
        "shares": 0,
    }
    page = await call(api, "GET", "/contents", None, 200)
    assert page["items"][0]["counters"]["views"] == 4
    keys_found = [k async for k in runtime.redis.scan_iter(match="*counters:seen:*")]
    assert not any(b"203.0.113" in key for key in keys_found), "addresses are hashed"


async def test_a_missing_item_counts_no_view(api: Any, engine: Any) -> None:
    await call(api, "GET", "/contents/999999", None, 404)
    assert not await api.app[RUNTIME].redis.exists(keys.dirty_key(api.app[RUNTIME].settings))


async def test_shares_are_counted_by_channel(
    api: Any, creator: Person, reader: Person, engine: Any
) -> None:
    content_id = await published(engine, creator.id)
    path = f"/contents/{content_id}/share"
    other = await person(api)
    for who, channel in (
        (reader, "wechat"),
        (reader, "wechat"),  # the same viewer and channel within the window: once
        (reader, "weibo"),
        (other, "wechat"),
        (None, "link"),
    ):
        await call(api, "POST", path, who, 204, json={"channel": channel})
    await counters.flush(api.app[RUNTIME])
    assert (await totals(engine, content_id))["shares"] == 4
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(ContentShareChannel.channel, ContentShareChannel.count).where(
                ContentShareChannel.content_id == content_id
            )
        )
        assert dict(rows.all()) == {"wechat": 2, "weibo": 1, "link": 1}


async def test_bad_shares_are_refused(
    api: Any, creator: Person, reader: Person, engine: Any
) -> None:
    content_id = await published(engine, creator.id)
    hidden = await published(engine, creator.id, status="draft")
    for body in ({"channel": "fax"}, {}, {"channel": "qq", "extra": 1}):
        await call(api, "POST", f"/contents/{content_id}/share", reader, 422, json=body)
    for target in (hidden, 999999):
        data = await call(
            api, "POST", f"/contents/{target}/share", reader, 404, json={"channel": "qq"}
        )
        assert data["error"]["code"] == "content.not_found"
    await call(api, "POST", f"/contents/{hidden}/share", creator, 404, json={"channel": "qq"})
    assert not await api.app[RUNTIME].redis.exists(keys.dirty_key(api.app[RUNTIME].settings))


async def test_a_flush_tells_each_items_room_its_new_counters_once(
    api: Any, creator: Person, engine: Any, settings: Settings
) -> None:
    items = [await published(engine, creator.id) for _ in range(2)]
    # A runtime without a relay keeps its outbox rows for us to read.
    runtime = await Runtime.open(make_settings(database_url=settings.database_url))
    try:
        for _ in range(3):
            await counters.record(runtime, items[0], "likes", 1)
        await counters.record(runtime, items[1], "favorites", 1)
        assert await counters.flush(runtime) == 2
        assert await counters.flush(runtime) == 0
    finally:
        await runtime.close()
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(OutboxMessage.name, OutboxMessage.payload).where(
                    OutboxMessage.name == "content.counters"
                )
            )
        ).all()
    by_room = {row.payload["room"]: row.payload["data"] for row in rows}
    assert len(rows) == 2
    assert by_room[f"content:{items[0]}"] == {
        "content_id": items[0],
        "counters": {"views": 0, "likes": 3, "favorites": 0, "comments": 0, "shares": 0},
    }
    assert by_room[f"content:{items[1]}"]["counters"]["favorites"] == 1


async def test_views_are_not_counted_while_redis_is_down_and_the_read_still_works(
    api: Any, creator: Person, settings: Settings, engine: Any
) -> None:
    content_id = await published(engine, creator.id)
    runtime = await Runtime.open(
        make_settings(database_url=settings.database_url, redis_url="redis://127.0.0.1:1/0")
    )
    try:
        assert await counters.record_view(runtime, content_id=content_id, ip="203.0.113.9") is False
    finally:
        await runtime.close()


async def test_in_the_embedded_mode_counters_go_straight_to_the_table(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    settings = await migrated_embedded_settings(tmp_path)
    client = await aiohttp_client(create_app(settings))
    runtime = client.app[RUNTIME]
    author = await person(client, "creator")
    moderator = await person(client, "moderator")
    item = await publish(client, author, moderator)
    path = f"/contents/{item['id']}"
    reader = await person(client)
    for who in (reader, reader, None):
        await call(client, "GET", path, who, 200)
    await call(client, "POST", f"{path}/share", reader, 204, json={"channel": "qq"})
    await counters.record(runtime, item["id"], "likes", 2)
    assert await counters.flush(runtime) == 0, "nothing waits in the embedded mode"
    data = await call(client, "GET", path, None, 200)
    assert data["counters"] == {
        "views": 2,
        "likes": 2,
        "favorites": 0,
        "comments": 0,
        "shares": 1,
    }
    assert await counters.recent_views(runtime, user_id=reader.id) == [item["id"]]
    assert await counters.rescore(runtime) == 1
    hot = await call(client, "GET", "/discover/hot", None, 200)
    assert [i["id"] for i in hot["items"]] == [item["id"]]
    assert hot["items"][0]["counters"]["views"] == 2


async def test_in_the_embedded_mode_a_like_is_counted_once_by_the_in_process_runner(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    settings = await migrated_embedded_settings(tmp_path)
    client = await aiohttp_client(create_app(settings))
    runtime, runner = client.app[RUNTIME], client.app[JOB_RUNNER]
    item = await publish(client, await person(client, "creator"), await person(client, "moderator"))
    reader = await person(client)
    await call(client, "POST", f"/contents/{item['id']}/like", reader, 200)
    await runner.drain()
    assert (await call(client, "GET", f"/contents/{item['id']}", None, 200))["counters"][
        "likes"
    ] == 1
    change = {"change_id": "c1", "field": "favorites", "changes": {str(item["id"]): 1}}
    assert await counters.record_changes(runtime, **change) is True
    assert await counters.record_changes(runtime, **change) is False, "once per change id"
    data = await call(client, "GET", f"/contents/{item['id']}", None, 200)
    assert (data["counters"]["likes"], data["counters"]["favorites"]) == (1, 1)


async def test_counter_changes_of_an_unknown_counter_are_refused(runtime: Runtime) -> None:
    with pytest.raises(UnknownCounter):
        async with runtime.db.unit_of_work() as uow:
            counters.count_on_commit(uow, "bookmarks", {1: 1})
    with pytest.raises(UnknownCounter):
        await counters.record_changes(runtime, change_id="c2", field="bookmarks", changes={})
