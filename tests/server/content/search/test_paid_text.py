"""Search holds only what every searcher may read: matching must not reveal a word of paid text."""

from __future__ import annotations

from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from models.content.search import SearchDocument
from server.content.search import tokenizer
from tests.helpers.content import publish
from tests.helpers.people import Person, call, person
from tests.helpers.search import found
from tests.server.content.items.test_access import grant

PAID_BODY = (
    "公开的导读 open introduction.\n\n<!-- paywall -->\n\n付费秘方 the hidden recipe zebracorn.\n"
)
PAID_ONLY = ("付费秘方", "hidden recipe", "zebracorn", "秘")
PUBLIC = ("公开的导读", "open introduction")


async def tokens_of(engine: AsyncEngine, content_id: int) -> set[str]:
    async with engine.connect() as conn:
        stored = await conn.scalar(
            select(SearchDocument.tokens).where(SearchDocument.content_id == content_id)
        )
    return set((stored or "").split())


async def test_a_phrase_only_after_the_paywall_matches_nobody_not_even_a_buyer(
    api: TestClient, creator: Person, moderator: Person, reader: Person, admin: Person
) -> None:
    paid = await publish(
        api, creator, moderator, title="专栏", body=PAID_BODY, access="paid", price_cents=990
    )
    buyer = await person(api, "buyer")
    await grant(api, admin, buyer, "content", paid["id"])
    for who in (None, reader, buyer):
        for phrase in PAID_ONLY:
            assert await found(api, phrase, who) == [], (who, phrase)
        for phrase in PUBLIC:
            assert await found(api, phrase, who) == [paid["id"]], (who, phrase)
    # The one who may read everything finds nothing either: the index is shared by all.
    assert await found(api, "zebracorn", creator) == []


async def test_plan_and_members_items_index_only_their_preview(
    api: TestClient, creator: Person, moderator: Person, engine: AsyncEngine
) -> None:
    plan = await publish(api, creator, moderator, body=PAID_BODY, access="subscription")
    members = await publish(api, creator, moderator, body=PAID_BODY, access="members")
    for item in (plan, members):
        stored = await tokens_of(engine, item["id"])
        assert tokenizer.encode("zebracorn") not in stored
        assert tokenizer.encode("open") in stored
    assert await found(api, "zebracorn") == []


async def test_a_paid_item_without_a_marker_is_found_by_title_and_summary_only(
    api: TestClient, creator: Person, moderator: Person
) -> None:
    item = await publish(
        api,
        creator,
        moderator,
        title="全付费",
        summary="摘要 abstract",
        body="everything here is paid quokkaword",
        access="paid",
        price_cents=100,
    )
    assert await found(api, "quokkaword") == []
    assert await found(api, "abstract") == [item["id"]]
    assert await found(api, "全付费") == [item["id"]]


async def test_a_free_item_is_found_by_its_whole_body_and_loses_it_when_it_becomes_paid(
    api: TestClient, creator: Person, moderator: Person
) -> None:
    item = await publish(api, creator, moderator, title="转付费", body=PAID_BODY)
    assert await found(api, "zebracorn") == [item["id"]]
    await call(
        api,
        "PATCH",
        f"/contents/{item['id']}",
        creator,
        200,
        json={"access": "paid", "price_cents": 500},
    )
    assert await found(api, "zebracorn") == []
    assert await found(api, "open introduction") == [item["id"]]
    await call(api, "PATCH", f"/contents/{item['id']}", creator, 200, json={"access": "free"})
    assert await found(api, "zebracorn") == [item["id"]]
