"""Notification jobs: the welcome notice after sign-up (arq and in-process), job.progress events."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from arq.worker import func
from redis.exceptions import ConnectionError as RedisConnectionError

from jobs.inprocess import InProcessJobRunner
from jobs.progress import percent_of, report_progress
from jobs.sinks import arq_job_id
from jobs.tasks import FUNCTIONS
from server.app import create_app
from server.keys import JOB_RUNNER, RUNTIME
from server.outbox import Event, Job
from server.settings import Settings
from tests.helpers.auth import bearer, register
from tests.helpers.env import migrated_embedded_settings
from tests.jobs.test_worker import queued_job_ids, run_burst

# arq's Worker.close() still calls redis-py's deprecated close().
pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")

WELCOME = "notifications.welcome"
NOTIFICATIONS = "/api/v1/notifications"


class RecordingEvents:
    """An EventSink that keeps what it was given, or fails like an unreachable Redis."""

    def __init__(self) -> None:
        self.sent: list[Event] = []
        self.down = False

    async def send(self, event: Event) -> None:
        if self.down:
            raise RedisConnectionError("down")
        self.sent.append(event)


async def notifications_of(client: Any, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = await client.get(NOTIFICATIONS, headers=headers)
    assert response.status == 200
    items: list[dict[str, Any]] = (await response.json())["items"]
    return items


# --- the welcome notification ---------------------------------------------------------------------


def test_the_welcome_task_is_registered_for_workers_and_the_in_process_runner() -> None:
    assert WELCOME in FUNCTIONS
    assert FUNCTIONS[WELCOME].timeout_s == 30


async def test_sign_up_queues_the_welcome_job_and_a_worker_sends_exactly_one_notification(
    client, settings: Settings, redis
) -> None:
    signed_in = await register(client, email="ann@example.com")
    user_id, headers = signed_in["user"]["id"], bearer(signed_in["access_token"])

    # The outbox's fast path put the job on arq's queue, under the account's natural key.
    assert await queued_job_ids(redis, settings) == [arq_job_id(settings, f"welcome:{user_id}")]
    assert await notifications_of(client, headers) == []

    ctx = {"runtime": client.app[RUNTIME]}
    worker = await run_burst(settings, ctx)
    assert (worker.jobs_complete, worker.jobs_failed) == (1, 0)

    [welcome] = await notifications_of(client, headers)
    assert welcome["type"] == "system.welcome"
    assert welcome["read_at"] is None and welcome["actor_id"] is None

    # arq may run a job twice (a crash, a shutdown): the second run finds the notice and stops.
    assert await FUNCTIONS[WELCOME].coroutine({**ctx, "job_id": "again"}, user_id=user_id) is None
    assert [n["id"] for n in await notifications_of(client, headers)] == [welcome["id"]]


async def test_the_welcome_job_running_twice_at_once_sends_one_notification(
    client, settings: Settings
) -> None:
    signed_in = await register(client, email="ann@example.com")
    user_id, headers = signed_in["user"]["id"], bearer(signed_in["access_token"])
    ctx = {"runtime": client.app[RUNTIME]}
    run = FUNCTIONS[WELCOME].coroutine

    results = await asyncio.gather(run(ctx, user_id=user_id), run(ctx, user_id=user_id))

    assert len([r for r in results if r is not None]) == 1
    assert len(await notifications_of(client, headers)) == 1


async def test_a_failed_sign_up_queues_no_welcome_job(client, settings: Settings, redis) -> None:
    await register(client, email="ann@example.com")
    await register(client, status=409, email="ann@example.com")
    assert len(await queued_job_ids(redis, settings)) == 1


async def test_in_the_embedded_mode_sign_up_produces_the_welcome_notification_in_process(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    settings = await migrated_embedded_settings(tmp_path)
    embedded = await aiohttp_client(create_app(settings))

    signed_in = await register(embedded, email="ann@example.com")
    await embedded.app[JOB_RUNNER].drain()

    headers = bearer(signed_in["access_token"])
    [welcome] = await notifications_of(embedded, headers)
    assert welcome["type"] == "system.welcome"
    unread = await embedded.get(NOTIFICATIONS + "/unread_count", headers=headers)
    assert await unread.json() == {"unread": 1}
    user_id = signed_in["user"]["id"]
    assert embedded.app[JOB_RUNNER].results[f"welcome:{user_id}"] == welcome["id"]


# --- job.progress ---------------------------------------------------------------------------------


def progress_ctx(events: RecordingEvents | None, job_id: str | None = "report:1") -> dict[str, Any]:
    return {"runtime": SimpleNamespace(events=events), "job_id": job_id}


@pytest.mark.parametrize(
    ("done", "total", "percent"),
    [(0, 10, 0), (1, 3, 33), (3, 3, 100), (5, 3, 100), (0, 0, 0), (1, 0, 100), (-1, 5, 0)],
)
def test_percent_is_a_whole_number_from_0_to_100(done: int, total: int, percent: int) -> None:
    assert percent_of(done, total) == percent


async def test_report_progress_sends_a_job_progress_user_event() -> None:
    events = RecordingEvents()
    ctx = progress_ctx(events)

    await report_progress(ctx, user_id=7, job="reports.csv", done=2, total=8, message="Rows")

    assert events.sent == [
        Event(
            type="job.progress",
            data={
                "job_id": "report:1",
                "job": "reports.csv",
                "done": 2,
                "total": 8,
                "percent": 25,
                "message": "Rows",
            },
            user_ids=(7,),
            room=None,
            dedupe_id="progress:report:1:2",
        )
    ]


async def test_a_repeated_step_carries_the_same_dedupe_id_and_a_new_step_a_new_one() -> None:
    events = RecordingEvents()
    ctx = progress_ctx(events)
    for done in (1, 1, 2):
        await report_progress(ctx, user_id=7, job="reports.csv", done=done, total=2)
    ids = [e.dedupe_id for e in events.sent]
    assert ids == ["progress:report:1:1", "progress:report:1:1", "progress:report:1:2"]


async def test_progress_never_fails_the_job() -> None:
    events = RecordingEvents()
    events.down = True
    await report_progress(progress_ctx(events), user_id=7, job="reports.csv", done=1, total=2)
    await report_progress(progress_ctx(None), user_id=7, job="reports.csv", done=1, total=2)
    assert events.sent == []


async def test_a_long_job_in_the_in_process_runner_reports_each_step() -> None:
    events = RecordingEvents()

    async def export(ctx: dict[str, Any], *, user_id: int, rows: int) -> int:
        for done in range(1, rows + 1):
            await report_progress(ctx, user_id=user_id, job="reports.export", done=done, total=rows)
        return rows

    runner = InProcessJobRunner(
        {"reports.export": func(export, name="reports.export")},
        [],
        {"runtime": SimpleNamespace(events=events)},
    )
    try:
        await runner.enqueue(Job("reports.export", {"user_id": 5, "rows": 4}, job_id="export:9"))
        await runner.drain()
    finally:
        await runner.stop()

    assert runner.results["export:9"] == 4
    assert [e.data["percent"] for e in events.sent] == [25, 50, 75, 100]
    assert {e.data["job_id"] for e in events.sent} == {"export:9"}
    assert all(e.user_ids == (5,) and e.type == "job.progress" for e in events.sent)
