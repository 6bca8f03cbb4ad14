"""Retrieval in the embedded mode: SQLite has no FULLTEXT index on the passages, so chunks are
scored by how many of the query's tokens they hold; the access rules are the same."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.app import create_app
from tests.fakes.ai_provider import FakeAIProvider
from tests.helpers.content import publish
from tests.helpers.env import migrated_embedded_settings
from tests.helpers.people import call, person
from tests.helpers.tutor import wire
from tests.server.tutor.retrieval.indexed import enable_embedding_model, index, retrieve
from tests.server.tutor.retrieval.test_paid_text import BODY, CANARY


@pytest.fixture
async def embedded(aiohttp_client: Any, tmp_path: Path) -> TestClient:
    settings = await migrated_embedded_settings(tmp_path)
    client: TestClient = await aiohttp_client(create_app(settings))
    return client


async def test_keywords_and_vectors_on_sqlite_quote_paid_text_only_to_full_readers(
    embedded: TestClient, fake_ai: FakeAIProvider
) -> None:
    wire(embedded, fake_ai)
    creator = await person(embedded, "creator")
    moderator = await person(embedded, "moderator")
    admin = await person(embedded, "admin")
    reader = await person(embedded)
    await enable_embedding_model(embedded)
    item = await publish(
        embedded, creator, moderator, title="酸面包", body=BODY, access="paid", price_cents=990
    )
    other = await publish(embedded, creator, moderator, title="别的", body="讲知识付费的文章。")
    for content_id in (item["id"], other["id"]):
        await index(embedded, content_id)
    for vectors in (False, True):
        passages = await retrieve(embedded, reader, f"sourdough {CANARY}", vectors=vectors)
        assert [(p.content_id, p.access) for p in passages] == [(item["id"], "preview")]
        assert [p.content_id for p in await retrieve(embedded, reader, "知识付费")] == [other["id"]]
    body = {"user_id": reader.id, "subject_type": "content", "subject_id": item["id"]}
    await call(embedded, "POST", "/admin/entitlements", admin, 201, json=body)
    passages = await retrieve(embedded, reader, f"recipe {CANARY}", content_id=item["id"])
    assert CANARY in passages[0].body and passages[0].access == "paid"
