"""Scheduled publishing: approved items go out at their time, by a real arq worker; a cron
sweep publishes whatever a lost deferred job left behind."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from jobs.tasks import FUNCTIONS
from models.content.items import Content
from server.keys import RUNTIME
from tests.helpers.content import draft
from tests.helpers.people import Person, call
from tests.jobs.test_worker import run_burst


async def schedule(api, creator: Person, moderator: Person, publish_at: datetime) -> dict:
    item = await draft(api, creator)
    await call(
        api,
        "POST",
        f"/contents/{item['id']}/submit",
        creator,
        200,
        json={"publish_at": publish_at.isoformat()},
    )
    return await call(
        api, "POST", f"/moderation/contents/{item['id']}/approve", moderator, 200, json={}
    )


async def test_an_approved_item_is_published_at_its_time_by_the_worker(
    api, creator: Person, moderator: Person, reader: Person, auth_settings
) -> None:
    item = await schedule(api, creator, moderator, datetime.now(UTC) + timedelta(seconds=1.5))
    assert item["status"] == "scheduled" and item["published_version"] is None
    await call(api, "GET", f"/contents/{item['id']}", reader, 404)

    worker = await run_burst(auth_settings, {"runtime": api.app[RUNTIME]})

    assert worker.jobs_complete >= 1 and worker.jobs_failed == 0
    seen = await call(api, "GET", f"/contents/{item['id']}", reader, 200)
    assert seen["status"] == "published" and seen["published_at"] is not None


async def test_a_job_that_runs_early_or_twice_publishes_once(
    api, creator: Person, moderator: Person
) -> None:
    item = await schedule(api, creator, moderator, datetime.now(UTC) + timedelta(hours=1))
    task = FUNCTIONS["content.publish_scheduled"].coroutine
    ctx = {"runtime": api.app[RUNTIME]}
    assert await task(ctx, content_id=item["id"]) is False, "not due yet"
    assert await task(ctx, content_id=999999) is False


async def test_the_sweep_publishes_what_is_due(
    api, creator: Person, moderator: Person, reader: Person, engine: AsyncEngine
) -> None:
    item = await schedule(api, creator, moderator, datetime.now(UTC) + timedelta(hours=1))
    async with engine.begin() as conn:  # as if the hour passed and the deferred job was lost
        await conn.execute(
            update(Content)
            .where(Content.id == item["id"])
            .values(scheduled_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    sweep = FUNCTIONS["content.publish_due"].coroutine
    ctx = {"runtime": api.app[RUNTIME]}
    assert await sweep(ctx) == 1
    assert await sweep(ctx) == 0
    await call(api, "GET", f"/contents/{item['id']}", reader, 200)
    await asyncio.sleep(0)


async def test_publish_at_is_a_time_with_an_offset_never_a_number(
    api, creator: Person, moderator: Person
) -> None:
    item = await draft(api, creator)
    path = f"/contents/{item['id']}/submit"
    naive = (datetime.now(UTC) + timedelta(hours=1)).replace(tzinfo=None).isoformat()
    for value in (0, 0.5, 1_900_000_000, "0", naive):
        refused = await call(api, "POST", path, creator, 422, json={"publish_at": value})
        assert set(refused["error"]["fields"]) == {"body.publish_at"}, value
    still = await call(api, "GET", f"/contents/{item['id']}/draft", creator, 200)
    assert still["status"] == "draft"

    at = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    shanghai = at.astimezone(timezone(timedelta(hours=8))).isoformat()
    await call(api, "POST", path, creator, 200, json={"publish_at": shanghai})
    approved = await call(
        api, "POST", f"/moderation/contents/{item['id']}/approve", moderator, 200, json={}
    )
    assert approved["status"] == "scheduled"
    assert datetime.fromisoformat(approved["scheduled_at"]) == at
