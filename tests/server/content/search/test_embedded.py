"""Search in the embedded mode: SQLite's FTS5 over the same tokens, the same behaviour."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import text

from server.app import create_app
from server.keys import RUNTIME
from tests.helpers.content import publish
from tests.helpers.env import migrated_embedded_settings
from tests.helpers.people import call, person
from tests.helpers.search import found, search


@pytest.fixture
async def embedded(aiohttp_client: Any, tmp_path: Path) -> TestClient:
    settings = await migrated_embedded_settings(tmp_path)
    client: TestClient = await aiohttp_client(create_app(settings))
    return client


async def test_chinese_english_and_mixed_queries_on_sqlite(embedded: TestClient) -> None:
    creator = await person(embedded, "creator")
    moderator = await person(embedded, "moderator")
    together = await publish(embedded, creator, moderator, title="文章一", body="聊聊知识付费。")
    apart = await publish(embedded, creator, moderator, title="文章二", body="知识重要，付费也行。")
    guide = await publish(
        embedded, creator, moderator, title="Python入门", body="Learning Python", tags=["编程"]
    )
    assert await found(embedded, "知识付费") == [together["id"]]
    assert sorted(await found(embedded, "付费")) == sorted([together["id"], apart["id"]])
    assert sorted(await found(embedded, "知")) == sorted([together["id"], apart["id"]])
    assert await found(embedded, "Python入门") == [guide["id"]]
    assert await found(embedded, "LEARNING python") == [guide["id"]]
    assert await found(embedded, "编程") == [guide["id"]]
    assert await found(embedded, "入门", tag="编程", kind="article", price="free") == [guide["id"]]
    assert await found(embedded, "知识", author_id=moderator.id) == []
    data = await search(embedded, None, 422, q="？！")
    assert data["error"]["code"] == "search.empty_query"


async def test_archiving_updates_and_access_flags_on_sqlite(embedded: TestClient) -> None:
    creator = await person(embedded, "creator")
    moderator = await person(embedded, "moderator")
    paid = await publish(
        embedded, creator, moderator, title="付费课", body="内容", access="paid", price_cents=100
    )
    page = await search(embedded, q="付费课")
    assert [(i["id"], i["can_read"]) for i in page["items"]] == [(paid["id"], False)]
    assert (await search(embedded, creator, q="付费课"))["items"][0]["can_read"] is True
    await call(embedded, "POST", f"/contents/{paid['id']}/archive", creator, 200)
    assert await found(embedded, "付费课") == []
    await call(embedded, "POST", f"/contents/{paid['id']}/restore", creator, 200)
    await call(embedded, "PATCH", f"/contents/{paid['id']}", creator, 200, json={"tags": ["新"]})
    assert await found(embedded, "新") == [paid["id"]]
    # The FTS5 table follows search_documents through its triggers: one row each.
    async with embedded.app[RUNTIME].db.connection() as conn:
        counts = [
            (await conn.execute(text(f"SELECT count(*) FROM {name}"))).scalar()
            for name in ("search_documents", "search_fts")
        ]
    assert counts == [1, 1]


async def test_relevance_is_bm25_and_every_sort_pages_on_sqlite(embedded: TestClient) -> None:
    creator = await person(embedded, "creator")
    moderator = await person(embedded, "moderator")
    ids = [
        (await publish(embedded, creator, moderator, title=f"第{n}篇", body="区块链。" * (n + 1)))[
            "id"
        ]
        for n in range(5)
    ]
    titled = (await publish(embedded, creator, moderator, title="区块链", body="正文"))["id"]
    by_relevance = await found(embedded, "区块链", limit=2)
    assert sorted(by_relevance) == sorted([*ids, titled])
    assert by_relevance.index(ids[-1]) < by_relevance.index(ids[0])
    assert await found(embedded, "区块链", sort="newest", limit=4) == [titled, *reversed(ids)]
    hottest = await found(embedded, "区块链", sort="hottest", limit=4)
    assert sorted(hottest) == sorted([*ids, titled])
