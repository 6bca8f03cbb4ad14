"""Comments and safety: blocks, keyword screening, reports and moderators' hide and restore."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from models.audit import AdminLog
from models.content.counters import ContentCounter
from models.content.moderation import ModerationFlag
from server.content.counters import flush
from server.keys import RUNTIME, SETTINGS
from server.settings import Settings
from tests.helpers.content import publish
from tests.helpers.env import AppClient, make_settings
from tests.helpers.people import Person, call, person
from tests.helpers.social import comment, types_of
from tests.jobs.test_worker import run_burst

SCAM = "快来 刷单返利 赚钱"


@pytest.fixture
async def queue_api(make_client: AppClient, database_url: str, settings: Settings) -> TestClient:
    return await make_client(make_settings(database_url=database_url, moderation_mode="queue"))


async def test_someone_the_author_blocked_cannot_comment_or_reply_to_them(
    api: TestClient, creator: Person, moderator: Person, reader: Person
) -> None:
    item = await publish(api, creator, moderator)
    other = await person(api)
    root = await comment(api, other, item["id"], "路过")
    await call(api, "POST", f"/users/{reader.id}/block", creator, 200)
    refused = await comment(api, reader, item["id"], "我又来了", 403)
    assert refused["error"]["code"] == "comments.blocked"
    await call(api, "POST", f"/users/{reader.id}/block", other, 200)
    elsewhere = await publish(api, await person(api, "creator"), moderator)
    mine = await comment(api, other, elsewhere["id"], "别处的评论")
    refused = await comment(api, reader, elsewhere["id"], "回你", 403, parent_id=mine["id"])
    assert refused["error"]["code"] == "comments.blocked"
    # Blocked people are not told they were mentioned either.
    await call(api, "PATCH", "/me", other, 200, json={"nickname": "路人甲"})
    await comment(api, reader, elsewhere["id"], "@路人甲 你好")
    assert await types_of(api, other) == []
    assert root["status"] == "visible"


async def test_block_mode_refuses_flagged_text_and_changes_nothing(
    api: TestClient, creator: Person, moderator: Person, reader: Person
) -> None:
    item = await publish(api, creator, moderator)
    refused = await comment(api, reader, item["id"], SCAM, 422)
    assert refused["error"]["code"] == "moderation.flagged"
    assert refused["error"]["fields"] == {"body": "scam"}
    page = await call(api, "GET", f"/contents/{item['id']}/comments", None, 200)
    assert page["items"] == []
    mine = await comment(api, reader, item["id"], "正常评论")
    await call(api, "PATCH", f"/comments/{mine['id']}", reader, 422, json={"body": SCAM})


async def test_a_listed_term_spelt_with_cyrillic_look_alikes_is_refused(
    api: TestClient, creator: Person, moderator: Person, reader: Person
) -> None:
    item = await publish(api, creator, moderator)
    disguised = "Want to d\u043euble y\u043eur bitc\u043ein? DM me"  # Cyrillic о (U+043E)
    refused = await comment(api, reader, item["id"], disguised, 422)
    assert refused["error"]["code"] == "moderation.flagged"
    assert refused["error"]["fields"] == {"body": "scam"}
    assert (await comment(api, reader, item["id"], "Пишу по-русски: двойная порция"))["id"]


async def test_queue_mode_holds_flagged_comments_for_a_moderator(
    queue_api: TestClient, engine: AsyncEngine
) -> None:
    api = queue_api
    creator, moderator, reader = (
        await person(api, "creator"),
        await person(api, "moderator"),
        await person(api),
    )
    item = await publish(api, creator, moderator)
    held = await comment(api, reader, item["id"], SCAM)
    assert held["status"] == "pending" and held["body"] == SCAM  # its author still sees it
    seen = await call(api, "GET", f"/comments/{held['id']}", None, 200)
    assert seen["status"] == "pending" and seen["body"] is None
    assert await types_of(api, creator) == []
    async with engine.connect() as conn:
        flag = (
            await conn.execute(
                select(ModerationFlag.target_type, ModerationFlag.categories).where(
                    ModerationFlag.target_id == held["id"]
                )
            )
        ).one()
    assert tuple(flag) == ("comment", ["scam"])
    queue = await call(api, "GET", "/moderation/comments", moderator, 200)
    assert [(c["id"], c["body"]) for c in queue["items"]] == [(held["id"], SCAM)]
    await call(api, "GET", "/moderation/comments", reader, 403)
    restored = await call(
        api, "POST", f"/moderation/comments/{held['id']}/restore", moderator, 200, json={}
    )
    assert (await call(api, "GET", "/moderation/comments", moderator, 200))["items"] == []
    assert restored["status"] == "visible" and restored["body"] == SCAM
    assert await types_of(api, creator) == ["comment.created"]  # announced once let through


async def test_reports_on_comments_reach_the_queue_and_moderators_hide_them(
    api: TestClient, creator: Person, moderator: Person, reader: Person, engine: AsyncEngine
) -> None:
    item = await publish(api, creator, moderator)
    bad = await comment(api, reader, item["id"], "广告广告")
    report = {"target_type": "comment", "target_id": bad["id"], "reason": "spam"}
    own = await call(api, "POST", "/reports", reader, 422, json=report)
    assert own["error"]["code"] == "moderation.own_target"
    filed = await call(api, "POST", "/reports", creator, 201, json=report)
    queue = await call(api, "GET", "/moderation/reports", moderator, 200)
    assert [r["id"] for r in queue["items"]] == [filed["id"]]
    await call(api, "POST", f"/moderation/comments/{bad['id']}/hide", reader, 403, json={})
    hidden = await call(
        api, "POST", f"/moderation/comments/{bad['id']}/hide", moderator, 200, json={"note": "ad"}
    )
    assert hidden["status"] == "hidden" and hidden["body"] is None
    async with engine.connect() as conn:
        actions = list(await conn.scalars(select(AdminLog.action)))
    assert "comment.hidden" in actions
    missing = {"target_type": "comment", "target_id": 999999, "reason": "spam"}
    await call(api, "POST", "/reports", creator, 404, json=missing)


async def test_the_content_counter_counts_visible_comments(
    api: TestClient, creator: Person, moderator: Person, reader: Person, engine: AsyncEngine
) -> None:
    item = await publish(api, creator, moderator)
    first = await comment(api, reader, item["id"], "一")
    await comment(api, reader, item["id"], "二", parent_id=first["id"])
    third = await comment(api, reader, item["id"], "三")
    await call(api, "DELETE", f"/comments/{third['id']}", reader, 200)
    await call(api, "DELETE", f"/comments/{third['id']}", reader, 200)
    # The counter changes wait in the job queue, written there with each comment change.
    runtime = api.app[RUNTIME]
    assert (await run_burst(api.app[SETTINGS], {"runtime": runtime})).jobs_failed == 0
    await flush(runtime)
    async with engine.connect() as conn:
        count = await conn.scalar(
            select(ContentCounter.comments).where(ContentCounter.content_id == item["id"])
        )
    assert count == 2
