"""Keyword screening on submit: flagged text is refused (block) or held for review (queue)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from models.content.items import ContentVersion
from models.content.moderation import ModerationFlag
from tests.helpers.content import draft
from tests.helpers.moderation import MakeApi
from tests.helpers.people import Person, call, person


async def versions(engine: AsyncEngine, content_id: int) -> int:
    async with engine.connect() as conn:
        count = await conn.scalar(
            select(func.count())
            .select_from(ContentVersion)
            .where(ContentVersion.content_id == content_id)
        )
    return int(count or 0)


async def submit(api: Any, author: Person, item: dict[str, Any], status: int) -> Any:
    return await call(api, "POST", f"/contents/{item['id']}/submit", author, status, json={})


async def test_clean_text_is_submitted_as_usual(api, creator: Person, engine: AsyncEngine) -> None:
    item = await draft(api, creator, summary="免费课程，领取资料", body="A class on casinos.\n")
    submitted = await submit(api, creator, item, 200)
    assert submitted["status"] == "in_review"
    assert await versions(engine, item["id"]) == 1


async def test_flagged_text_is_refused_and_nothing_changes(
    api, creator: Person, engine: AsyncEngine
) -> None:
    item = await draft(api, creator, title="赌 博 網 站", body="Come to the ＣＡＳＩＮＯ\n")
    refused = await submit(api, creator, item, 422)
    error = refused["error"]
    assert error["code"] == "moderation.flagged"
    assert error["fields"] == {"title": "gambling", "body": "gambling"}
    assert "赌博" not in str(refused) and "casino" not in str(refused).lower()
    current = await call(api, "GET", f"/contents/{item['id']}/draft", creator, 200)
    assert current["status"] == "draft" and current["updated_at"] == item["updated_at"]
    assert current["revision"] == item["revision"]
    assert await versions(engine, item["id"]) == 0
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(ModerationFlag)) == 0


async def test_every_field_is_screened_with_the_builtin_list_too(api, creator: Person) -> None:
    item = await draft(api, creator, summary="专业代開發票", body="免\u200b费领取\n")
    refused = await submit(api, creator, item, 422)
    assert refused["error"]["fields"] == {"summary": "illegal_goods", "body": "spam"}


async def test_terms_disguised_with_cyrillic_or_greek_look_alikes_are_refused(
    api, creator: Person
) -> None:
    # "casino" with a Cyrillic С and а; the built-in "double your bitcoin" with Greek ο.
    item = await draft(
        api, creator, title="\u0421\u0430sino night", body="d\u03bfuble y\u03bfur bitcoin\n"
    )
    refused = await submit(api, creator, item, 422)
    assert refused["error"]["fields"] == {"title": "gambling", "body": "scam"}


async def test_a_published_item_stays_as_it_was_when_its_new_text_is_refused(
    api, creator: Person, moderator: Person, reader: Person, engine: AsyncEngine
) -> None:
    from tests.helpers.content import publish

    item = await publish(api, creator, moderator, body="Clean.\n")
    path = f"/contents/{item['id']}/draft"
    await call(
        api, "PUT", path, creator, 200, json={"revision": item["revision"], "body": "scam coin"}
    )
    await submit(api, creator, item, 422)
    seen = await call(api, "GET", f"/contents/{item['id']}", reader, 200)
    assert seen["html"] == "<p>Clean.</p>\n"
    assert (await call(api, "GET", "/moderation/contents", moderator, 200))["items"] == []
    assert await versions(engine, item["id"]) == 1


async def test_queue_mode_sends_flagged_text_to_review_with_a_flag(
    make_api: MakeApi, engine: AsyncEngine
) -> None:
    api = await make_api(moderation_mode="queue")
    creator, moderator = await person(api, "creator"), await person(api, "moderator")
    item = await draft(api, creator, body="免 费 领 取 at the casino\n")
    submitted = await submit(api, creator, item, 200)
    assert submitted["status"] == "in_review"
    assert await versions(engine, item["id"]) == 1
    queue = await call(api, "GET", "/moderation/contents", moderator, 200)
    assert [i["id"] for i in queue["items"]] == [item["id"]]
    flags = await call(api, "GET", f"/moderation/contents/{item['id']}/flags", moderator, 200)
    [flag] = flags["items"]
    assert flag["categories"] == ["gambling", "spam"]
    assert flag["fields"] == {"body": ["gambling", "spam"]}
    assert flag["terms_count"] == 2 and flag["target_id"] == item["id"]
    assert flags["next_cursor"] is None


async def test_with_review_off_flagged_text_waits_for_a_moderator(
    make_api: MakeApi, engine: AsyncEngine
) -> None:
    api = await make_api(moderation_mode="queue", content_review_required=False)
    creator, reader = await person(api, "creator"), await person(api)
    flagged = await draft(api, creator, body="赌博网站\n")
    held = await submit(api, creator, flagged, 200)
    assert held["status"] == "in_review" and held["published_version"] is None
    await call(api, "GET", f"/contents/{flagged['id']}", reader, 404)
    clean = await draft(api, creator, body="Fine.\n")
    assert (await submit(api, creator, clean, 200))["status"] == "published"


async def test_with_review_off_block_mode_still_refuses(make_api: MakeApi) -> None:
    api = await make_api(content_review_required=False)
    creator = await person(api, "creator")
    item = await draft(api, creator, body="赌博网站\n")
    assert (await submit(api, creator, item, 422))["error"]["code"] == "moderation.flagged"


async def test_the_builtin_list_can_be_turned_off(make_api: MakeApi) -> None:
    api = await make_api(moderation_builtin_words=False, moderation_words_file=None)
    creator = await person(api, "creator")
    item = await draft(api, creator, body="代开发票 免费领取\n")
    assert (await submit(api, creator, item, 200))["status"] == "in_review"


async def test_flags_are_for_moderators_and_known_content(
    make_api: MakeApi, engine: AsyncEngine
) -> None:
    api = await make_api(moderation_mode="queue")
    creator, moderator = await person(api, "creator"), await person(api, "moderator")
    item = await draft(api, creator, body="casino\n")
    for _ in range(3):
        await submit(api, creator, item, 200)
        await call(
            api,
            "POST",
            f"/moderation/contents/{item['id']}/reject",
            moderator,
            200,
            json={"reason": "no"},
        )
    path = f"/moderation/contents/{item['id']}/flags"
    await call(api, "GET", path, creator, 403)
    first = await call(api, "GET", path, moderator, 200, params={"limit": 2})
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = await call(
        api, "GET", path, moderator, 200, params={"limit": 2, "cursor": first["next_cursor"]}
    )
    ids = [f["id"] for f in first["items"] + rest["items"]]
    assert len(ids) == 3 and ids == sorted(ids, reverse=True)
    bad = await call(api, "GET", path, moderator, 400, params={"cursor": "eyJpZCI6MH0"})
    assert bad["error"]["code"] == "pagination.invalid_cursor"
    missing = await call(api, "GET", "/moderation/contents/999999/flags", moderator, 404)
    assert missing["error"]["code"] == "content.not_found"
