"""Lists of published content: filters, cursors, a constant number of queries, index plans."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from models.content.items import Category, Content, ContentTag, Tag
from server.content.items.queries import list_statement
from server.content.items.schemas import ListQuery
from server.keys import RUNTIME
from tests.helpers.people import Person, call

START = datetime(2026, 11, 1, tzinfo=UTC)


async def seed(engine: AsyncEngine, author: Person, count: int) -> list[int]:
    """`count` published items: every third paid, kinds cycling, even ones tagged, one category."""
    kinds = ("article", "audio", "video")
    async with engine.begin() as conn:
        category = (
            await conn.execute(insert(Category).values(name="AI", slug="ai", position=0))
        ).inserted_primary_key[0]
        tag = (
            await conn.execute(insert(Tag).values(name="python", created_at=START))
        ).inserted_primary_key[0]
        ids = []
        for n in range(count):
            at = START + timedelta(minutes=n // 2)  # pairs share a time: the id breaks ties
            values: dict[str, Any] = {
                "author_id": author.id,
                "kind": kinds[n % 3],
                "status": "published",
                "access": "paid" if n % 3 == 0 else "free",
                "price_cents": 100 if n % 3 == 0 else 0,
                "currency": "CNY",
                "title": f"t{n}",
                "summary": "",
                "body": "",
                "revision": 1,
                "saved_at": at,
                "published_version": 1,
                "published_title": f"title {n}",
                "published_summary": "s",
                "published_html": "<p>x</p>",
                "preview_html": "",
                "published_at": at,
                "created_at": at,
                "updated_at": at,
                "position": 0,
                "category_id": category if n % 5 == 0 else None,
            }
            ids.append(
                (await conn.execute(insert(Content).values(**values))).inserted_primary_key[0]
            )
        await conn.execute(insert(ContentTag), [{"content_id": i, "tag_id": tag} for i in ids[::2]])
    return ids


async def all_pages(api, query: str, limit: int) -> list[dict]:
    items, cursor = [], None
    while True:
        suffix = f"&cursor={cursor}" if cursor else ""
        page = await call(api, "GET", f"/contents?limit={limit}{query}{suffix}", None, 200)
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def test_pages_walk_every_item_once_newest_first(api, creator: Person, engine) -> None:
    ids = await seed(engine, creator, 25)
    items = await all_pages(api, "", 7)
    assert [i["id"] for i in items] == list(reversed(ids))
    assert items[0]["title"] == "title 24" and items[0]["author"]["id"] == creator.id
    assert "html" not in items[0]


async def test_filters(api, creator: Person, engine) -> None:
    ids = await seed(engine, creator, 15)
    by = {
        "&kind=audio": [i for n, i in enumerate(ids) if n % 3 == 1],
        "&price=paid": [i for n, i in enumerate(ids) if n % 3 == 0],
        "&price=free": [i for n, i in enumerate(ids) if n % 3 != 0],
        "&tag=PYTHON": ids[::2],
        f"&author_id={creator.id}": ids,
        "&author_id=999999": [],
    }
    for query, expected in by.items():
        items = await all_pages(api, query, 4)
        assert sorted(i["id"] for i in items) == sorted(expected), query
    first = (await call(api, "GET", "/contents?limit=100", None, 200))["items"]
    category = next(i["category_id"] for i in first if i["category_id"])
    items = await all_pages(api, f"&category_id={category}", 2)
    assert sorted(i["id"] for i in items) == sorted(ids[::5])


async def test_a_page_costs_the_same_queries_whatever_its_size(
    api, creator: Person, engine
) -> None:
    await seed(engine, creator, 60)
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    sync_engine = api.app[RUNTIME].db.engine.sync_engine
    counts = []
    event.listen(sync_engine, "before_cursor_execute", record)
    try:
        for limit in (5, 50):
            statements.clear()
            page = await call(api, "GET", f"/contents?limit={limit}", None, 200)
            assert len(page["items"]) == limit
            counts.append(len(statements))
    finally:
        event.remove(sync_engine, "before_cursor_execute", record)
    assert counts[0] == counts[1] == 4, counts  # items, their tags, authors and counters


async def test_the_list_reads_the_status_and_time_index_without_a_filesort(
    api, creator: Person, engine
) -> None:
    await seed(engine, creator, 40)
    dialect = api.app[RUNTIME].db.engine.dialect
    for query, after in (
        (ListQuery(), None),
        (ListQuery(kind="audio"), (START + timedelta(minutes=5), 10**6)),
    ):
        sql = str(
            list_statement(query, after=after).compile(
                dialect=dialect, compile_kwargs={"literal_binds": True}
            )
        )
        async with engine.connect() as conn:
            await conn.execute(text("ANALYZE TABLE contents"))
            plan = [dict(r._mapping) for r in await conn.execute(text(f"EXPLAIN {sql}"))]
        contents = next(row for row in plan if row["table"] == "contents")
        assert contents["key"] == "ix_contents_status_published_at", plan
        assert "filesort" not in (contents["Extra"] or ""), plan


async def test_a_foreign_cursor_is_refused(api) -> None:
    for cursor in ("nonsense", "eyJhIjoxfQ", "W10"):
        data = await call(api, "GET", f"/contents?cursor={cursor}", None, 400)
        assert data["error"]["code"] == "pagination.invalid_cursor"


async def test_bad_filters_are_refused(api) -> None:
    for query in ("kind=poem", "price=cheap", "limit=0", "limit=101", "category_id=-1"):
        await call(api, "GET", f"/contents?{query}", None, 422)


async def test_a_cursor_with_a_time_without_a_zone_is_refused(api) -> None:
    from server.http.pagination import encode_cursor

    cursor = encode_cursor({"at": "2026-11-01T00:00:00", "id": 5})
    data = await call(api, "GET", f"/contents?cursor={cursor}", None, 400)
    assert data["error"]["code"] == "pagination.invalid_cursor"


async def test_featured_is_spelt_true_or_false_in_the_query(api) -> None:
    for spelling in ("true", "false"):
        await call(api, "GET", f"/contents?featured={spelling}", None, 200)
    for spelling in ("0", "1", "0.5", "yes", "on", "True"):
        data = await call(api, "GET", f"/contents?featured={spelling}", None, 422)
        assert set(data["error"]["fields"]) == {"query.featured"}, spelling
