"""Counter tasks: registered with their schedules; the flush task moves increments, the rescore
task refreshes scores, and both are harmless to run again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, text

from jobs.tasks import FUNCTIONS, TASKS
from models.content.items import Content
from models.identity.users import User
from server.content import counters
from server.runtime import Runtime
from server.settings import Settings


def test_counter_tasks_and_their_schedules_are_registered() -> None:
    assert {"counters.flush", "counters.rescore"} <= set(FUNCTIONS)
    flush = next(job for job in TASKS.cron_jobs() if job.name == "cron:counters.flush")
    assert flush.second == set(range(0, 60, 5))
    rescore = next(job for job in TASKS.cron_jobs() if job.name == "cron:counters.rescore")
    assert (rescore.minute, rescore.second) == (7, 0)


async def test_the_tasks_flush_and_rescore_and_running_them_again_changes_nothing(
    settings: Settings, engine: Any
) -> None:
    published_at = datetime.now(UTC) - timedelta(hours=1)
    async with engine.begin() as conn:
        author = (
            await conn.execute(
                insert(User).values(nickname="author", roles=["reader"], created_at=published_at)
            )
        ).inserted_primary_key[0]
        content_id = (
            await conn.execute(
                insert(Content).values(
                    author_id=author,
                    kind="article",
                    status="published",
                    access="free",
                    currency="CNY",
                    title="t",
                    saved_at=published_at,
                    published_version=1,
                    published_at=published_at,
                    created_at=published_at,
                    updated_at=published_at,
                )
            )
        ).inserted_primary_key[0]
    runtime = await Runtime.open(settings)
    ctx = {"runtime": runtime, "job_id": "cron:counters.flush"}
    try:
        await counters.record(runtime, content_id, "favorites", 2)
        assert await FUNCTIONS["counters.flush"].coroutine(ctx) == 1
        assert await FUNCTIONS["counters.flush"].coroutine(ctx) == 0
        assert await FUNCTIONS["counters.rescore"].coroutine(ctx) == 1
        assert await FUNCTIONS["counters.rescore"].coroutine(ctx) == 1
    finally:
        await runtime.close()
    async with engine.connect() as conn:
        row = (await conn.execute(text("SELECT favorites, hot_score FROM content_counters"))).one()
    assert row.favorites == 2 and row.hot_score > 0
