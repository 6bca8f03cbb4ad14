"""Discovery lists: hot by decayed engagement, following, featured (admin-only, audited),
recommended by the reader's tags with a hot fallback; constant queries and index plans."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from models.audit import AdminLog
from server.content import counters
from server.content.counters.flushing import apply_increments
from server.content.discovery.queries import featured_statement, following_statement, hot_statement
from server.http.pagination import encode_cursor
from server.keys import RUNTIME
from tests.helpers.discovery import NOW, FixedClock, counting_queries, follow, published
from tests.helpers.people import Person, call, person

WINDOW = timedelta(days=30)


async def engage(api: Any, increments: dict[int, dict[str, int]]) -> None:
    """Add counts straight to the totals, scored at NOW."""
    runtime = api.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        await apply_increments(uow, increments, now=NOW, window=WINDOW)


async def walk(api: Any, path: str, who: Person | None, limit: int) -> list[int]:
    ids: list[int] = []
    cursor = None
    while True:
        suffix = f"&cursor={cursor}" if cursor else ""
        page = await call(api, "GET", f"{path}?limit={limit}{suffix}", who, 200)
        ids += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return ids


def test_the_hot_score_weighs_engagement_and_decays_with_age() -> None:
    score = counters.hot_score(
        {"views": 10, "likes": 1, "favorites": 1, "comments": 1, "shares": 1},
        published_at=NOW - timedelta(hours=2),
        now=NOW,
        window=WINDOW,
    )
    assert score == pytest.approx((10 + 4 + 6 + 5 + 8) / 4**1.5)
    older = counters.hot_score(
        {"views": 10}, published_at=NOW - timedelta(hours=50), now=NOW, window=WINDOW
    )
    assert older == pytest.approx(10 / 52**1.5)
    gone = counters.hot_score(
        {"views": 10**6}, published_at=NOW - timedelta(days=31), now=NOW, window=WINDOW
    )
    assert gone == 0
    assert counters.hot_score({"views": 5}, published_at=None, now=NOW, window=WINDOW) == 0


async def test_hot_orders_by_decayed_engagement(api: Any, creator: Person, engine: Any) -> None:
    fresh = await published(engine, creator.id, at=NOW - timedelta(hours=1))
    shared = await published(engine, creator.id, at=NOW - timedelta(hours=2))
    old = await published(engine, creator.id, at=NOW - timedelta(hours=48))
    quiet = await published(engine, creator.id, at=NOW - timedelta(hours=3))
    ancient = await published(engine, creator.id, at=NOW - timedelta(days=40))
    archived = await published(engine, creator.id, at=NOW - timedelta(hours=1), status="archived")
    await engage(
        api,
        {
            fresh: {"views": 100},  # 100 / 3^1.5 = 19.2
            shared: {"shares": 10},  # 80 / 4^1.5 = 10
            old: {"views": 1000},  # 1000 / 50^1.5 = 2.8
            ancient: {"views": 10**6},  # out of the window: 0
            archived: {"views": 10**6},
        },
    )
    runtime = api.app[RUNTIME]
    runtime.clock = FixedClock(NOW)
    await counters.rescore(runtime)  # gives `quiet` its row
    ids = await walk(api, "/discover/hot", None, 2)
    assert ids[:3] == [fresh, shared, old]
    assert sorted(ids[3:], reverse=True) == ids[3:] == sorted([quiet, ancient], reverse=True)
    assert archived not in ids


async def test_the_hourly_rescore_ages_scores_and_drops_items_out_of_the_window(
    api: Any, creator: Person, engine: Any
) -> None:
    item = await published(engine, creator.id, at=NOW - timedelta(hours=1))
    await engage(api, {item: {"likes": 10}})
    runtime = api.app[RUNTIME]
    runtime.clock = FixedClock(NOW + timedelta(hours=10))
    assert await counters.rescore(runtime) == 1
    page = await call(api, "GET", "/discover/hot", None, 200)
    async with engine.connect() as conn:
        score = await conn.scalar(text("SELECT hot_score FROM content_counters"))
    assert score == pytest.approx(40 / 13**1.5)
    assert page["items"][0]["counters"]["likes"] == 10
    runtime.clock = FixedClock(NOW + timedelta(days=31))
    await counters.rescore(runtime)
    async with engine.connect() as conn:
        assert await conn.scalar(text("SELECT hot_score FROM content_counters")) == 0


async def test_the_following_feed_shows_only_followed_authors_newest_first(
    api: Any, reader: Person, engine: Any
) -> None:
    followed, other = await person(api, "creator"), await person(api, "creator")
    mine = [await published(engine, followed.id, at=NOW - timedelta(hours=h)) for h in range(5)]
    await published(engine, other.id)
    await published(engine, followed.id, status="draft")
    assert await walk(api, "/discover/following", reader, 2) == []
    await follow(engine, reader.id, followed.id)
    assert await walk(api, "/discover/following", reader, 2) == mine
    await call(api, "GET", "/discover/following", None, 401)


async def test_featuring_is_for_admins_audited_and_only_for_published_items(
    api: Any, creator: Person, admin: Person, engine: Any
) -> None:
    first = await published(engine, creator.id)
    second = await published(engine, creator.id)
    draft = await published(engine, creator.id, status="draft")
    await call(api, "POST", f"/admin/contents/{first}/feature", creator, 403)
    await call(api, "POST", f"/admin/contents/{first}/feature", None, 401)
    data = await call(api, "POST", f"/admin/contents/{draft}/feature", admin, 409)
    assert data["error"]["code"] == "discovery.not_published"
    await call(api, "POST", "/admin/contents/999999/feature", admin, 404)
    await call(api, "DELETE", "/admin/contents/999999/feature", admin, 404)
    assert (await call(api, "GET", "/discover/featured", None, 200))["items"] == []

    runtime = api.app[RUNTIME]
    runtime.clock = FixedClock(NOW)
    out = await call(api, "POST", f"/admin/contents/{first}/feature", admin, 200)
    assert out["content_id"] == first and out["featured_at"].startswith("2026-12-01T12:00")
    runtime.clock = FixedClock(NOW + timedelta(minutes=1))
    await call(api, "POST", f"/admin/contents/{second}/feature", admin, 200)
    again = await call(api, "POST", f"/admin/contents/{first}/feature", admin, 200)
    assert again["featured_at"] == out["featured_at"], "featuring twice keeps the first time"
    assert await walk(api, "/discover/featured", None, 1) == [second, first]
    await call(api, "DELETE", f"/admin/contents/{second}/feature", admin, 204)
    await call(api, "DELETE", f"/admin/contents/{second}/feature", admin, 204)
    assert await walk(api, "/discover/featured", None, 1) == [first]
    listed = await call(api, "GET", "/contents?featured=true", None, 200)
    assert [i["id"] for i in listed["items"]] == [first]

    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(AdminLog.admin_id, AdminLog.action, AdminLog.target_id).order_by(AdminLog.id)
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        (admin.id, "content.feature", first),
        (admin.id, "content.feature", second),
        (admin.id, "content.unfeature", second),
    ]


async def test_recommendations_follow_the_readers_tags_and_fall_back_to_hot(
    api: Any, creator: Person, moderator: Person, engine: Any
) -> None:
    python = [await published(engine, creator.id, tags=("python",)) for _ in range(3)]
    cooking = [await published(engine, creator.id, tags=("cooking",)) for _ in range(3)]
    both = await published(engine, creator.id, tags=("python", "ai"))
    await engage(api, {cooking[2]: {"views": 50}, python[0]: {"views": 10}})
    coder, cook, newcomer = await person(api), await person(api), await person(api)
    await call(api, "GET", f"/contents/{python[2]}", coder, 200)
    await call(api, "GET", f"/contents/{cooking[0]}", cook, 200)

    coder_ids = await walk(api, "/discover/recommended", coder, 2)
    assert python[2] not in coder_ids, "seen already"
    assert coder_ids == [python[0], both, python[1]]
    cook_ids = await walk(api, "/discover/recommended", cook, 10)
    assert cook_ids == [cooking[2], cooking[1]]

    hot = await walk(api, "/discover/hot", None, 3)
    assert await walk(api, "/discover/recommended", newcomer, 3) == hot
    await call(api, "GET", "/discover/recommended", None, 401)


async def test_recommendations_leave_out_own_and_bought_items_and_add_followed_authors(
    api: Any, creator: Person, admin: Person, engine: Any
) -> None:
    reader = await person(api, "creator")
    other = await person(api, "creator")
    bought = await published(engine, creator.id, tags=("go",), access="paid")
    same_tag = await published(engine, creator.id, tags=("go",))
    own = await published(engine, reader.id, tags=("go",))
    followed_item = await published(engine, other.id, tags=("rust",))
    grant = {"user_id": reader.id, "subject_type": "content", "subject_id": bought}
    await call(api, "POST", "/admin/entitlements", admin, 201, json=grant)
    ids = await walk(api, "/discover/recommended", reader, 5)
    assert ids == [same_tag]
    await follow(engine, reader.id, other.id)
    ids = await walk(api, "/discover/recommended", reader, 5)
    assert ids == [followed_item, same_tag]
    assert own not in ids and bought not in ids


async def test_every_list_costs_the_same_queries_whatever_its_size(
    api: Any, creator: Person, reader: Person, engine: Any
) -> None:
    items = [await published(engine, creator.id, tags=("python",)) for _ in range(60)]
    await engage(api, {i: {"views": n + 1} for n, i in enumerate(items)})
    await follow(engine, reader.id, creator.id)
    await call(api, "GET", f"/contents/{items[0]}", reader, 200)
    admin = await person(api, "admin")
    for content_id in items:
        await call(api, "POST", f"/admin/contents/{content_id}/feature", admin, 200)
    sync_engine = api.app[RUNTIME].db.engine.sync_engine
    for path in ("hot", "following", "featured", "recommended"):
        counts = []
        for limit in (5, 50):
            with counting_queries(sync_engine) as statements:
                page = await call(api, "GET", f"/discover/{path}?limit={limit}", reader, 200)
            assert len(page["items"]) == limit, path
            # The session check runs when the guard's cache lapses; it is not the list's.
            counts.append(len([s for s in statements if "auth_sessions" not in s]))
        assert counts[0] == counts[1], (path, counts)


async def explain(engine: Any, dialect: Any, statement: Any) -> list[dict[str, Any]]:
    sql = str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    async with engine.connect() as conn:
        await conn.execute(text("ANALYZE TABLE contents, content_counters"))
        return [dict(r._mapping) for r in await conn.execute(text(f"EXPLAIN {sql}"))]


async def test_the_lists_read_their_indexes_without_a_filesort(
    api: Any, creator: Person, engine: Any
) -> None:
    authors = [creator.id] + [(await person(api, "creator")).id for _ in range(3)]
    items = []
    for n in range(80):
        items.append(await published(engine, authors[n % 4], at=NOW - timedelta(minutes=n)))
    await engage(api, {i: {"views": n} for n, i in enumerate(items)})
    dialect = api.app[RUNTIME].db.engine.dialect
    for after in (None, (3.5, 10**6)):
        plan = await explain(engine, dialect, hot_statement(limit=20, after=after))
        first = plan[0]
        assert first["table"] == "content_counters", plan
        assert first["key"] == "ix_content_counters_hot_score_content_id", plan
        assert "filesort" not in (first["Extra"] or ""), plan
        contents = next(row for row in plan if row["table"] == "contents")
        assert contents["key"] == "PRIMARY", plan
    for after in (None, (NOW - timedelta(minutes=5), 10**6)):
        plan = await explain(
            engine, dialect, following_statement(authors[:2], limit=20, after=after)
        )
        [row] = plan
        assert row["key"] == "ix_contents_status_published_at", plan
        assert "filesort" not in (row["Extra"] or ""), plan
        plan = await explain(engine, dialect, featured_statement(limit=20, after=after))
        [row] = plan
        assert row["key"] == "ix_contents_featured_at", plan
        assert "filesort" not in (row["Extra"] or ""), plan


async def test_foreign_cursors_are_refused(api: Any, reader: Person) -> None:
    bad = [
        "nonsense",
        encode_cursor({"s": "x", "id": 1}),
        encode_cursor({"s": 1.0}),
        encode_cursor({"s": True, "id": 1}),
        encode_cursor({"at": "2026-12-01T00:00:00", "id": 1}),
        encode_cursor({"at": "yesterday", "id": 1}),
        encode_cursor({"f": 5, "id": 1}),
        encode_cursor({"o": -1}),
        encode_cursor({"o": "2"}),
    ]
    for path in ("hot", "following", "featured", "recommended"):
        for cursor in bad:
            response = await api.get(
                f"/api/v1/discover/{path}?cursor={cursor}", headers=reader.headers
            )
            if response.status != 400:
                # Some cursors are another list's: those only need to never fail the request.
                assert response.status == 200, (path, cursor, await response.text())
            else:
                data = await response.json()
                assert data["error"]["code"] == "pagination.invalid_cursor"
    for path in ("hot", "featured"):
        await call(api, "GET", f"/discover/{path}?limit=0", None, 422)
