"""THE rule: a prompt holds paid passages only of items the user may read in full right now, and
preview passages only of items they may preview. A canary word placed only after the paywall
must never reach anyone else, by keywords or by vectors, with an item or without."""

from __future__ import annotations

from aiohttp.test_utils import TestClient
from sqlalchemy import event

from server.content.items import access
from server.keys import RUNTIME
from server.tutor.retrieval.service import citations
from tests.helpers.content import publish
from tests.helpers.people import Person, call, person
from tests.server.content.items.test_access import grant
from tests.server.tutor.retrieval.indexed import (
    edit_and_republish,
    enable_embedding_model,
    index,
    retrieve,
)

CANARY = "canaryquokka42"
PAID_SENTENCE = f"The secret sourdough recipe uses {CANARY} flour at seventy percent."
BODY = (
    "Open introduction about sourdough starters and flour.\n\n<!-- paywall -->\n\n"
    f"{PAID_SENTENCE}\n"
)
QUERIES = (f"sourdough recipe {CANARY}", PAID_SENTENCE, "sourdough flour")


async def paid_article(api: TestClient, creator: Person, moderator: Person) -> dict:
    item = await publish(
        api, creator, moderator, title="酸面包", body=BODY, access="paid", price_cents=990
    )
    await index(api, item["id"])
    return item


def leaked(passages: list) -> bool:
    return any(CANARY in p.body for p in passages)


async def test_a_non_buyer_is_never_quoted_the_paid_text_by_keywords_or_vectors(
    api: TestClient, creator: Person, moderator: Person, reader: Person, embedders: None
) -> None:
    await enable_embedding_model(api)
    item = await paid_article(api, creator, moderator)
    for query in QUERIES:
        for content_id in (item["id"], None):
            for vectors in (False, True):
                passages = await retrieve(
                    api, reader, query, content_id=content_id, vectors=vectors
                )
                assert not leaked(passages), (query, content_id, vectors)
                assert [p.access for p in passages] == ["preview"], (query, content_id, vectors)
                assert passages[0].content_id == item["id"] and passages[0].title == "酸面包"


async def test_a_buyer_is_quoted_the_paid_text_and_it_is_cited(
    api: TestClient,
    creator: Person,
    moderator: Person,
    admin: Person,
    reader: Person,
    embedders: None,
) -> None:
    await enable_embedding_model(api)
    item = await paid_article(api, creator, moderator)
    buyer = await person(api)
    await grant(api, admin, buyer, "content", item["id"])
    for content_id in (item["id"], None):
        for vectors in (False, True):
            passages = await retrieve(
                api, buyer, QUERIES[0], content_id=content_id, vectors=vectors
            )
            paid = [p for p in passages if CANARY in p.body]
            assert len(paid) == 1 and paid[0].access == "paid", (content_id, vectors)
            answer = f"Use that flour [{paid[0].n}] and nothing else [99]."
            assert citations(answer, passages) == [
                {"n": paid[0].n, "content_id": item["id"], "title": "酸面包", "anchor": "p-1"}
            ]
    # The author and staff read everything; others still do not.
    assert leaked(await retrieve(api, creator, QUERIES[0], content_id=item["id"]))
    assert leaked(await retrieve(api, moderator, QUERIES[0], roles=frozenset({"moderator"})))
    assert not leaked(await retrieve(api, reader, QUERIES[0]))


async def test_levels_are_checked_at_every_retrieval_not_when_indexing(
    api: TestClient, creator: Person, moderator: Person, admin: Person, reader: Person
) -> None:
    item = await paid_article(api, creator, moderator)
    granted = await grant(api, admin, reader, "content", item["id"])
    assert leaked(await retrieve(api, reader, QUERIES[0], content_id=item["id"]))
    runtime = api.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        await access.revoke(
            uow.session, source="admin", source_id=granted["source_id"], now=runtime.clock.now()
        )
    assert not leaked(await retrieve(api, reader, QUERIES[0], content_id=item["id"]))
    # Archived before its rebuild ran: its passages are still there, but nobody not entitled
    # may see the item at all.
    await call(api, "POST", f"/contents/{item['id']}/archive", creator, 200)
    assert await retrieve(api, reader, "sourdough", content_id=item["id"]) == []
    assert await retrieve(api, reader, "sourdough") == []


async def test_a_preview_passage_made_paid_by_a_new_version_is_withheld_before_the_rebuild(
    api: TestClient, creator: Person, moderator: Person, reader: Person
) -> None:
    item = await paid_article(api, creator, moderator)
    assert await retrieve(api, reader, "introduction starters", content_id=item["id"])
    moved = "<!-- paywall -->\n\n" + BODY.replace("<!-- paywall -->", "")
    await edit_and_republish(api, creator, moderator, item, moved)
    assert await retrieve(api, reader, "introduction starters", content_id=item["id"]) == []
    assert await retrieve(api, creator, "introduction starters", content_id=item["id"])


async def test_a_course_quotes_chapters_the_user_owns_and_only_previews_of_the_others(
    api: TestClient, creator: Person, moderator: Person, admin: Person, reader: Person
) -> None:
    course = await publish(
        api, creator, moderator, kind="course", access="paid", price_cents=9900, body=""
    )
    chapters = []
    for n in (1, 2):
        chapter = await publish(
            api,
            creator,
            moderator,
            parent_id=course["id"],
            position=n,
            title=f"第{n}章",
            body=f"Chapter {n} sourdough preview.\n\n<!-- paywall -->\n\nChapter {n} {CANARY}.\n",
            access="paid",
            price_cents=100,
        )
        await index(api, chapter["id"])
        chapters.append(chapter)
    await grant(api, admin, reader, "content", chapters[0]["id"])
    passages = await retrieve(api, reader, f"sourdough chapter {CANARY}", content_id=course["id"])
    quoted = {(p.content_id, p.access) for p in passages}
    assert quoted == {
        (chapters[0]["id"], "preview"),
        (chapters[0]["id"], "paid"),
        (chapters[1]["id"], "preview"),
    }
    assert [p.n for p in passages] == list(range(1, len(passages) + 1))
    # Owning the course opens every chapter.
    owner = await person(api)
    await grant(api, admin, owner, "content", course["id"])
    passages = await retrieve(api, owner, f"chapter {CANARY}", content_id=course["id"])
    assert sum(CANARY in p.body for p in passages) == 2


async def test_retrieval_runs_a_bounded_number_of_queries(
    api: TestClient, creator: Person, moderator: Person, reader: Person, embedders: None
) -> None:
    await enable_embedding_model(api)
    for _ in range(6):
        await paid_article(api, creator, moderator)
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    engine = api.app[RUNTIME].db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        passages = await retrieve(api, reader, "sourdough flour", vectors=True, limit=20)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(passages) == 6 and not leaked(passages)
    assert len(statements) <= 10, statements
