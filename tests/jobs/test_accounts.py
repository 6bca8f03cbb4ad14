"""Account jobs on real workers: the deferred erasure, the immediate one, cron schedules, and the
embedded mode's in-process runner."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from jobs.sinks import queue_names
from jobs.tasks import FUNCTIONS, TASKS
from server.app import create_app
from server.keys import JOB_RUNNER, RUNTIME
from server.settings import Settings
from tests.helpers.auth import PASSWORD, bearer, login, register
from tests.helpers.env import migrated_embedded_settings
from tests.jobs.test_worker import run_burst

pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")


def test_account_tasks_and_their_schedules_are_registered() -> None:
    for name in (
        "accounts.erase",
        "accounts.erase_due",
        "accounts.export",
        "accounts.expire_exports",
    ):
        assert name in FUNCTIONS
    scheduled = {job.name for job in TASKS.cron_jobs()}
    assert {"cron:accounts.erase_due", "cron:accounts.expire_exports"} <= scheduled
    sweep = next(job for job in TASKS.cron_jobs() if job.name == "cron:accounts.erase_due")
    assert (sweep.hour, sweep.minute, sweep.second) == (3, 30, 0)


async def queued(redis: Any, settings: Settings) -> dict[str, float]:
    """Queued job ids (without the deployment's key prefix) and when they are due (ms)."""
    entries = await redis.zrange(queue_names(settings)[None], 0, -1, withscores=True)
    prefix = f"{settings.key_prefix}:"
    return {job.decode().removeprefix(prefix): score for job, score in entries}


async def nickname(client: Any, user_id: int) -> str:
    async with client.app[RUNTIME].db.sessions() as session:
        return str(
            await session.scalar(text("SELECT nickname FROM users WHERE id = :id"), {"id": user_id})
        )


async def test_deactivation_defers_erasure_and_a_deletion_is_erased_by_a_worker_at_once(
    client: Any, settings: Settings, redis: Any
) -> None:
    signed_in = await register(client)
    user_id = signed_in["user"]["id"]
    grace_ends = time.time() + 30 * 86400
    await client.post(
        "/api/v1/me/deactivate",
        json={"password": PASSWORD},
        headers=bearer(signed_in["access_token"]),
    )
    scores = await queued(redis, settings)
    [deferred] = [j for j in scores if j.startswith(f"erase:{user_id}:")]
    assert abs(scores[deferred] / 1000 - grace_ends) < 60, "due at the end of the grace"

    back = await login(client)
    response = await client.post(
        "/api/v1/me/delete",
        json={"password": PASSWORD, "confirm": "DELETE"},
        headers=bearer(back["access_token"]),
    )
    assert response.status == 202
    scores = await queued(redis, settings)
    assert f"erase:{user_id}:deleted" in scores, "not swallowed by the deferred job's id"

    # A burst worker waits for every queued job, deferred ones too: take out the one due in 30 days.
    await redis.zrem(queue_names(settings)[None], f"{settings.key_prefix}:{deferred}", deferred)
    worker = await run_burst(settings, {"runtime": client.app[RUNTIME]})
    assert worker.jobs_failed == 0
    assert await nickname(client, user_id) == "已注销用户"


async def test_in_the_embedded_mode_a_deletion_is_erased_in_process(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    settings = await migrated_embedded_settings(tmp_path)
    embedded = await aiohttp_client(create_app(settings))
    signed_in = await register(embedded)
    user_id = signed_in["user"]["id"]
    headers = bearer(signed_in["access_token"])
    export = await (await embedded.post("/api/v1/me/exports", headers=headers)).json()
    await embedded.app[JOB_RUNNER].drain()
    ready = await (await embedded.get(f"/api/v1/me/exports/{export['id']}", headers=headers)).json()
    assert ready["status"] == "ready" and ready["download_url"]

    response = await embedded.post(
        "/api/v1/me/delete", json={"password": PASSWORD, "confirm": "DELETE"}, headers=headers
    )
    assert response.status == 202
    await embedded.app[JOB_RUNNER].drain()
    assert embedded.app[JOB_RUNNER].results[f"erase:{user_id}:deleted"] is True
    assert await nickname(embedded, user_id) == "已注销用户"
    again = await register(embedded)
    assert again["user"]["id"] != user_id
