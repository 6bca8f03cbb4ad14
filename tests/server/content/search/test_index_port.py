"""Publishing keeps search current through the port the composition roots fill: items never
import search, and without a registered index nothing is published at all."""

from __future__ import annotations

import subprocess
import sys

import pytest
from aiohttp.test_utils import TestClient

from server.app import create_app
from server.content.items import indexing
from server.content.search import service as search_service
from server.settings import Settings
from tests.helpers.content import draft, publish
from tests.helpers.people import Person, call
from tests.helpers.search import found

WORKER_CHECK = (
    "from server.content.items import indexing\n"
    "assert indexing._index is None\n"
    "import jobs.worker\n"
    "from server.content.search import service\n"
    "assert indexing._index is service\n"
)


def test_the_web_app_and_the_workers_register_search_as_the_index(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    monkeypatch.setattr(indexing, "_index", None)
    create_app(settings)
    assert indexing._index is search_service
    subprocess.run([sys.executable, "-c", WORKER_CHECK], check=True, timeout=120)


async def test_publishing_without_a_registered_index_is_refused_and_changes_nothing(
    api: TestClient,
    creator: Person,
    moderator: Person,
    reader: Person,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    item = await draft(api, creator, title="索引", body="没有索引就不发布。")
    await call(api, "POST", f"/contents/{item['id']}/submit", creator, 200, json={})
    monkeypatch.setattr(indexing, "_index", None)
    approve = f"/moderation/contents/{item['id']}/approve"
    await call(api, "POST", approve, moderator, 500, json={})
    await call(api, "GET", f"/contents/{item['id']}", reader, 404)
    monkeypatch.undo()
    await call(api, "POST", approve, moderator, 200, json={})
    assert await found(api, "不发布") == [item["id"]]


async def test_an_item_published_through_the_port_is_found(
    api: TestClient, creator: Person, moderator: Person
) -> None:
    item = await publish(api, creator, moderator, title="端口", body="经由端口发布的文章。")
    assert await found(api, "端口") == [item["id"]]
