"""Publishing keeps the tutor's passages current: a rebuild is queued with the change, replaces
the passages (unchanged ones keep their vectors), and a sweep heals a lost one."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from jobs import tutor_retrieval
from jobs.sinks import queue_names
from jobs.tasks import TASKS
from server.app import create_app
from server.content.items import indexing as content_indexing
from server.keys import RUNTIME
from server.settings import Settings
from server.tutor.retrieval.indexing import INDEX_TASK, published_text_changed
from tests.helpers.content import publish
from tests.helpers.people import Person, call
from tests.server.tutor.retrieval.indexed import (
    MODEL,
    chunks_of,
    edit_and_republish,
    enable_embedding_model,
    index,
    retrieve,
)

WORKER_CHECK = (
    "from server.content.items import indexing\n"
    "assert indexing._followers == []\n"
    "import jobs.worker\n"
    "from server.tutor.retrieval.indexing import published_text_changed\n"
    "assert indexing._followers == [published_text_changed]\n"
)
BODY = "# Basics\n\nOpen words about bread.\n\n<!-- paywall -->\n\n## Secrets\n\nPaid words.\n"


async def queued(api: TestClient, content_id: int) -> list[dict[str, Any]]:
    """The rebuild jobs queued for this item (relayed to the job queue at commit)."""
    runtime = api.app[RUNTIME]
    prefix = f"{runtime.settings.key_prefix}:"
    jobs = await runtime.redis.queued_jobs(queue_name=queue_names(runtime.settings)[None])
    return [
        {"job_id": (job.job_id or "").removeprefix(prefix), "kwargs": job.kwargs}
        for job in sorted(jobs, key=lambda job: job.enqueue_time)
        if job.function == INDEX_TASK and job.kwargs["content_id"] == content_id
    ]


async def test_publishing_queues_a_rebuild_that_builds_the_passages(
    api: TestClient, creator: Person, moderator: Person
) -> None:
    item = await publish(api, creator, moderator, body=BODY, access="paid", price_cents=100)
    jobs = await queued(api, item["id"])
    assert len(jobs) == 1 and jobs[0]["job_id"].startswith(f"{INDEX_TASK}:{item['id']}:")
    assert await chunks_of(api, item["id"]) == []
    assert await index(api, **jobs[0]["kwargs"]) == 2
    chunks = await chunks_of(api, item["id"])
    assert [(c.access, c.anchor) for c in chunks] == [("preview", "p-0"), ("paid", "p-2")]
    assert [c.embedding for c in chunks] == [None, None], "no embedding model: keywords only"
    assert await index(api, item["id"]) == 2, "running it twice is harmless"
    assert [c.id for c in await chunks_of(api, item["id"])] == [c.id for c in chunks]


async def test_an_edit_replaces_passages_and_unchanged_ones_keep_their_vectors(
    api: TestClient, creator: Person, moderator: Person, embedders: None
) -> None:
    await enable_embedding_model(api)
    item = await publish(api, creator, moderator, body=BODY, access="paid", price_cents=100)
    await index(api, item["id"])
    before = await chunks_of(api, item["id"])
    assert all(c.embedding and c.embedding_model == MODEL for c in before)
    await edit_and_republish(api, creator, moderator, item, BODY.replace("Paid words", "New paid"))
    assert len(await queued(api, item["id"])) == 2
    await index(api, item["id"])
    after = await chunks_of(api, item["id"])
    assert after[0].id == before[0].id and after[0].embedding == before[0].embedding
    assert after[1].id != before[1].id and "New paid" in after[1].body
    assert after[1].embedding and after[1].embedding != before[1].embedding


async def test_archiving_removes_the_passages_and_restoring_brings_them_back(
    api: TestClient, creator: Person, moderator: Person
) -> None:
    item = await publish(api, creator, moderator, body=BODY)
    await index(api, item["id"])
    await call(api, "POST", f"/contents/{item['id']}/archive", creator, 200)
    assert len(await queued(api, item["id"])) == 2
    assert await index(api, item["id"]) == 0
    assert await chunks_of(api, item["id"]) == []
    await call(api, "POST", f"/contents/{item['id']}/restore", creator, 200)
    assert len(await queued(api, item["id"])) == 3
    assert await index(api, item["id"]) == 2


async def test_the_sweep_heals_lost_rebuilds(
    api: TestClient, creator: Person, moderator: Person, reader: Person
) -> None:
    ctx = {"runtime": api.app[RUNTIME]}
    item = await publish(api, creator, moderator, body=BODY.replace("bread", "sourdough"))
    empty = await publish(api, creator, moderator, kind="course", body="")
    assert await tutor_retrieval.index_due(ctx) == 1, "the lost job's item; not the empty course"
    assert [p.content_id for p in await retrieve(api, reader, "sourdough")] == [item["id"]]
    assert await tutor_retrieval.index_due(ctx) == 0
    await call(api, "POST", f"/contents/{item['id']}/archive", creator, 200)
    assert await tutor_retrieval.index_due(ctx) == 1
    assert await chunks_of(api, item["id"]) == [] and await chunks_of(api, empty["id"]) == []


async def test_the_sweep_embeds_what_an_outage_of_the_provider_left_unembedded(
    api: TestClient, creator: Person, moderator: Person, embedders: None
) -> None:
    ctx = {"runtime": api.app[RUNTIME]}
    item = await publish(api, creator, moderator, body=BODY)
    await index(api, item["id"])
    assert await tutor_retrieval.index_due(ctx) == 0, "no model: keywords only, nothing due"
    await enable_embedding_model(api)
    assert await tutor_retrieval.index_due(ctx) == 1
    assert all(c.embedding_model == MODEL for c in await chunks_of(api, item["id"]))
    assert await tutor_retrieval.index_due(ctx) == 0


def test_the_web_app_and_the_workers_follow_published_text_and_run_the_tasks(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    monkeypatch.setattr(content_indexing, "_followers", [])
    create_app(settings)
    create_app(settings)
    assert content_indexing._followers == [published_text_changed]
    assert {INDEX_TASK, "tutor.index_due"} <= set(TASKS.tasks)
    assert "tutor.index_due" in {s.task.name for s in TASKS.schedules}
    subprocess.run([sys.executable, "-c", WORKER_CHECK], check=True, timeout=120)
