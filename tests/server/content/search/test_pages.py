"""Search pages: cursors for each sort, a constant number of queries, the MariaDB plan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import event, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from models.content.counters import ContentCounter
from models.content.items import Content, ContentTag, ContentVersion, Tag
from models.content.search import FULLTEXT_INDEX, SearchDocument
from server.content.items.access import ANONYMOUS
from server.content.search import queries, service, tokenizer
from server.content.search.schemas import SearchQuery
from server.http.pagination import encode_cursor
from server.keys import RUNTIME
from tests.helpers.people import Person
from tests.helpers.search import found, search

START = datetime(2026, 11, 1, tzinfo=UTC)


async def seed(api: TestClient, author: Person, engine: AsyncEngine, count: int) -> list[int]:
    """`count` published items whose bodies say 知识付费 (n + 1 times: later ones match better),
    every third paid (the phrase in its preview, before the paywall); pairs share a publication
    time."""
    ids = []
    async with engine.begin() as conn:
        for n in range(count):
            at = START + timedelta(minutes=n // 2)
            values: dict[str, Any] = {
                "author_id": author.id,
                "kind": "article",
                "status": "published",
                "access": "paid" if n % 3 == 0 else "free",
                "price_cents": 100 if n % 3 == 0 else 0,
                "currency": "CNY",
                "title": f"t{n}",
                "summary": "",
                "body": "",
                "saved_at": at,
                "published_version": 1,
                "published_title": f"第{n}篇",
                "published_summary": "",
                "published_html": "",
                "preview_html": "",
                "published_at": at,
                "created_at": at,
                "updated_at": at,
            }
            content_id = (
                await conn.execute(insert(Content).values(**values))
            ).inserted_primary_key[0]
            await conn.execute(
                insert(ContentVersion).values(
                    content_id=content_id,
                    number=1,
                    title=f"第{n}篇",
                    summary="",
                    body="知识付费。" * (n + 1) + ("\n\n<!-- paywall -->\n\n正文" * (n % 3 == 0)),
                    editor_id=author.id,
                    created_at=at,
                )
            )
            ids.append(content_id)
    async with api.app[RUNTIME].db.unit_of_work() as uow:
        for content_id in ids:
            assert await service.index_content(uow.session, content_id=content_id)
    return ids


async def test_every_sort_walks_every_match_once(
    api: TestClient, creator: Person, engine: AsyncEngine
) -> None:
    ids = await seed(api, creator, engine, 13)
    newest = list(reversed(ids))  # the id breaks ties of publication time
    assert await found(api, "知识付费", sort="newest", limit=4) == newest
    assert await found(api, "知识付费", sort="hottest", limit=5) == newest
    by_relevance = await found(api, "知识付费", limit=3)
    assert sorted(by_relevance) == sorted(ids)
    assert by_relevance[0] == ids[-1] and by_relevance[-1] == ids[0]  # most mentions first


async def test_relevance_stops_at_its_depth(
    api: TestClient, creator: Person, engine: AsyncEngine, monkeypatch: Any
) -> None:
    await seed(api, creator, engine, 5)
    monkeypatch.setattr(queries, "RELEVANCE_DEPTH", 4)
    first = await search(api, q="知识付费", limit=2)
    second = await search(api, q="知识付费", limit=2, cursor=first["next_cursor"])
    assert len(second["items"]) == 2 and second["next_cursor"] is None


async def test_a_foreign_or_mismatched_cursor_is_refused(
    api: TestClient, creator: Person, engine: AsyncEngine
) -> None:
    await seed(api, creator, engine, 3)
    newest = (await search(api, q="知识付费", sort="newest", limit=1))["next_cursor"]
    relevant = (await search(api, q="知识付费", limit=1))["next_cursor"]
    cursors = [
        ("relevance", newest),
        ("newest", relevant),
        ("hottest", newest),
        ("relevance", "nonsense"),
        ("relevance", encode_cursor({"sort": "relevance", "offset": -1})),
        ("relevance", encode_cursor({"sort": "relevance", "offset": "1"})),
        ("relevance", encode_cursor({"sort": "relevance", "offset": 10**6})),
        ("newest", encode_cursor({"sort": "newest", "at": "yesterday", "id": 1})),
        ("newest", encode_cursor({"sort": "newest", "at": "2026-11-01T00:00:00", "id": 1})),
        ("newest", encode_cursor({"sort": "newest", "at": START.isoformat(), "id": "1"})),
        ("newest", encode_cursor({"sort": "newest", "id": 1})),
        ("hottest", encode_cursor({"sort": "hottest", "score": "1", "id": 1})),
        ("hottest", encode_cursor({"sort": "hottest", "score": True, "id": 1})),
        ("hottest", encode_cursor({"sort": "hottest", "score": 1.0, "id": 1.5})),
    ]
    for sort, cursor in cursors:
        data = await search(api, None, 400, q="知识付费", sort=sort, cursor=cursor)
        assert data["error"]["code"] == "pagination.invalid_cursor", (sort, cursor)


async def test_a_page_costs_the_same_queries_whatever_its_size(
    api: TestClient, creator: Person, reader: Person, engine: AsyncEngine
) -> None:
    await seed(api, creator, engine, 30)
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    sync_engine = api.app[RUNTIME].db.engine.sync_engine
    counts: dict[str, list[int]] = {"anonymous": [], "reader": []}
    event.listen(sync_engine, "before_cursor_execute", record)
    try:
        for who, name in ((None, "anonymous"), (reader, "reader")):
            for limit in (5, 25):
                for sort in ("relevance", "newest"):
                    statements.clear()
                    page = await search(api, who, q="知识付费", limit=limit, sort=sort)
                    assert len(page["items"]) == limit
                    counts[name].append(len([s for s in statements if "auth_sessions" not in s]))
    finally:
        event.remove(sync_engine, "before_cursor_execute", record)
    # The match, tags, authors; a signed-in reader's entitlements on the paid items too.
    assert set(counts["anonymous"]) == {3}, counts
    assert len(set(counts["reader"])) == 1 and counts["reader"][0] <= 4, counts


async def test_mariadb_answers_from_the_fulltext_index(
    api: TestClient, creator: Person, engine: AsyncEngine
) -> None:
    ids = await seed(api, creator, engine, 20)
    async with engine.begin() as conn:
        tag = (await conn.execute(insert(Tag).values(name="x"))).inserted_primary_key[0]
        await conn.execute(insert(ContentTag), [{"content_id": i, "tag_id": tag} for i in ids])
        await conn.execute(text("ANALYZE TABLE contents, search_documents, content_tags"))
    dialect = api.app[RUNTIME].db.engine.dialect
    tokens = tokenizer.query_tokens("知识付费")
    for query, position in (
        (SearchQuery(q="知识付费"), None),
        (SearchQuery(q="知识付费", sort="newest", kind="article"), {"at": START, "id": 10**6}),
        (SearchQuery(q="知识付费", price="paid", tag="x"), {"offset": 20}),
        (SearchQuery(q="知识付费", sort="hottest"), {"score": 1.5, "id": 10**6}),
    ):
        statement = queries.search_statement(
            query, tokens=tokens, dialect=dialect.name, position=position
        )
        sql = str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        assert "IN BOOLEAN MODE" in sql and "+ze79fa5e8af86" in sql
        async with engine.connect() as conn:
            plan = [dict(r._mapping) for r in await conn.execute(text(f"EXPLAIN {sql}"))]
        tables = {row["table"]: row for row in plan}
        assert {"search_documents", "contents"} <= set(tables), plan
        documents, contents = tables["search_documents"], tables["contents"]
        assert documents["type"] == "fulltext" and documents["key"] == FULLTEXT_INDEX, plan
        assert contents["type"] == "eq_ref" and contents["key"] == "PRIMARY", plan
        if query.sort == "hottest":
            counters = tables["content_counters"]
            assert counters["type"] == "eq_ref" and counters["key"] == "PRIMARY", plan


async def test_the_tokens_column_has_a_fulltext_index_on_mariadb(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT INDEX_NAME, INDEX_TYPE, COLUMN_NAME FROM information_schema.STATISTICS "
                    "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'search_documents' "
                    "AND INDEX_NAME = :name"
                ),
                {"name": FULLTEXT_INDEX},
            )
        ).all()
        min_token = (await conn.execute(text("SELECT @@innodb_ft_min_token_size"))).scalar()
    assert [tuple(r) for r in rows] == [(FULLTEXT_INDEX, "FULLTEXT", "tokens")]
    assert min_token == 3  # the server's default: what the encoding is built to survive


async def test_indexing_an_unpublished_item_removes_it(
    api: TestClient, creator: Person, engine: AsyncEngine
) -> None:
    [content_id] = await seed(api, creator, engine, 1)
    async with engine.begin() as conn:
        await conn.execute(
            Content.__table__.update().where(Content.id == content_id).values(status="archived")
        )
    async with api.app[RUNTIME].db.unit_of_work() as uow:
        assert not await service.index_content(uow.session, content_id=content_id)
        assert not await service.index_content(uow.session, content_id=10**9)
    async with engine.connect() as conn:
        assert (await conn.execute(select(SearchDocument.content_id))).all() == []


async def test_a_session_searches_like_a_connection(
    api: TestClient, creator: Person, engine: AsyncEngine
) -> None:
    ids = await seed(api, creator, engine, 2)
    runtime = api.app[RUNTIME]
    async with runtime.db.read() as session:
        page = await queries.search(
            session, viewer=ANONYMOUS, query=SearchQuery(q="知识付费"), now=runtime.clock.now()
        )
    assert sorted(item.id for item in page.items) == sorted(ids)


async def test_hottest_follows_the_counters_hot_score(
    api: TestClient, creator: Person, engine: AsyncEngine
) -> None:
    ids = await seed(api, creator, engine, 6)
    scores = {ids[0]: 9.5, ids[1]: 2.0, ids[2]: 2.0, ids[3]: 7}  # the rest have no counters
    async with engine.begin() as conn:
        await conn.execute(
            insert(ContentCounter),
            [{"content_id": i, "hot_score": score} for i, score in scores.items()],
        )
    expected = [ids[0], ids[3], ids[2], ids[1], ids[5], ids[4]]
    for limit in (1, 2, 4, 6):
        assert await found(api, "知识付费", sort="hottest", limit=limit) == expected


async def test_reindexing_rebuilds_every_published_item_in_batches(
    api: TestClient, creator: Person, engine: AsyncEngine
) -> None:
    ids = await seed(api, creator, engine, 5)
    async with engine.begin() as conn:
        await conn.execute(SearchDocument.__table__.delete())
    assert await found(api, "知识付费") == []
    done, last = [], 0
    while True:
        async with api.app[RUNTIME].db.unit_of_work() as uow:
            last = await service.reindex(uow.session, after_id=last, limit=2)
        if last is None:
            break
        done.append(last)
    assert done == [ids[1], ids[3], ids[4]]
    assert sorted(await found(api, "知识付费")) == sorted(ids)
