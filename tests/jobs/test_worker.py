"""The arq workers against real MariaDB and Redis: settings, the outbox's fast path, the sweep.

Workers run in burst mode (they stop once their queue is empty) on the tests' own Redis DB and
a queue under the run's key prefix.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.jobs import Job as ArqJob
from arq.worker import Worker, create_worker
from redis.asyncio import Redis
from sqlalchemy import func, select, text

import jobs.worker
from jobs.__main__ import main as jobs_main
from jobs.arq_worker import LEASE_SECONDS, QueueWorker
from jobs.registry import TaskList, schedule, task
from jobs.sinks import ArqJobSink, arq_job_id, queue_names
from jobs.tasks import FUNCTIONS, TASKS
from jobs.worker import MediaWorkerSettings, TutorWorkerSettings, WorkerSettings
from models.platform import IdempotencyKey, OutboxMessage
from realtime.events import SocketEventSink
from server.content.media.service import PROCESS_TASK
from server.outbox import MEDIA_QUEUE, Event
from server.runtime import Runtime
from server.settings import Settings
from tests.helpers.env import make_settings

# arq's Worker.close() still calls redis-py's deprecated close().
pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")

MEDIA_TASKS = {PROCESS_TASK, "users.process_avatar"}
TUTOR_TASKS = {"tutor.run", "tutor.fold_memory"}
PURGE = "platform.purge_idempotency_keys"
SWEEP = "platform.sweep_outbox"


class RecordingEvents:
    """An EventSink that keeps what it was given."""

    def __init__(self) -> None:
        self.sent: list[Event] = []

    async def send(self, event: Event) -> None:
        self.sent.append(event)


@pytest.fixture
def events() -> RecordingEvents:
    return RecordingEvents()


@pytest.fixture
def attached(runtime: Runtime, settings: Settings, events: RecordingEvents) -> Runtime:
    """The Runtime as the worker wires it: jobs to arq, events to a recorder."""
    assert runtime.redis is not None
    runtime.attach(jobs=ArqJobSink(runtime.redis, settings), events=events)
    return runtime


async def worker_pool(settings: Settings) -> ArqRedis:
    assert settings.redis_url is not None
    return await create_pool(
        RedisSettings.from_dsn(settings.redis_url),
        default_queue_name=queue_names(settings)[None],
    )


async def run_burst(settings: Settings, ctx: dict[str, Any], **overrides: Any) -> Worker:
    """Run a default-queue worker until its queue is empty, then close it."""
    options: dict[str, Any] = {
        "functions": list(FUNCTIONS.values()),
        "queue_name": queue_names(settings)[None],
        "redis_pool": await worker_pool(settings),
        "burst": True,
        "poll_delay": 0,
        "handle_signals": False,
        "keep_result": WorkerSettings.keep_result,
        "job_timeout": 10,
        "ctx": ctx,
    }
    options.update(overrides)
    worker = Worker(**options)
    try:
        await worker.async_run()
    finally:
        await worker.close()
    return worker


async def queued_job_ids(redis: Redis, settings: Settings) -> list[str]:
    return [j.decode() for j in await redis.zrange(queue_names(settings)[None], 0, -1)]


def idempotency_key(key: str, *, expires_in: timedelta, now: Any) -> IdempotencyKey:
    return IdempotencyKey(
        scope="1:POST /api/v1/orders",
        key=key,
        request_hash="0" * 64,
        user_id=1,
        created_at=now - timedelta(days=1),
        expires_at=now + expires_in,
    )


async def remaining_keys(runtime: Runtime) -> list[str]:
    async with runtime.db.sessions() as session:
        return list((await session.scalars(select(IdempotencyKey.key))).all())


async def outbox_count(runtime: Runtime) -> int:
    async with runtime.db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(OutboxMessage)) or 0)


async def insert_outbox_row(runtime: Runtime, *, age: timedelta, row_id: int | None = None) -> int:
    """A job row written without the fast path, as if the process died right after commit."""
    row = OutboxMessage(
        kind="job",
        name=PURGE,
        payload={"kwargs": {}},
        created_at=runtime.clock.now() - age,
    )
    if row_id is not None:
        row.id = row_id
    async with runtime.db.sessions() as session:
        session.add(row)
        await session.commit()
    return row.id


async def insert_keys(runtime: Runtime) -> None:
    now = runtime.clock.now()
    async with runtime.db.sessions() as session:
        session.add(idempotency_key("expired", expires_in=-timedelta(minutes=1), now=now))
        session.add(idempotency_key("fresh", expires_in=timedelta(hours=23), now=now))
        await session.commit()


# --- settings -------------------------------------------------------------------------------------


def test_the_default_worker_runs_every_task_but_media_and_tutor_ones_and_every_cron() -> None:
    assert {f.name for f in WorkerSettings.functions} == set(FUNCTIONS) - MEDIA_TASKS - TUTOR_TASKS
    assert {SWEEP, PURGE} <= set(FUNCTIONS)
    assert [c.name for c in WorkerSettings.cron_jobs] == [
        f"{jobs.worker.settings.key_prefix}:{c.name}" for c in TASKS.cron_jobs()
    ], "cron tick ids are the deployment's own, as its other job ids are"
    sweeps = [c for c in WorkerSettings.cron_jobs if c.coroutine is FUNCTIONS[SWEEP].coroutine]
    assert len(sweeps) == 1
    assert sweeps[0].unique, "one sweep per tick, however many workers run"


def test_the_media_worker_runs_only_media_tasks_on_its_own_queue_and_no_cron_jobs() -> None:
    assert {f.name for f in MediaWorkerSettings.functions} == MEDIA_TASKS
    assert MediaWorkerSettings.cron_jobs == []
    assert MediaWorkerSettings.queue_name != WorkerSettings.queue_name
    assert MediaWorkerSettings.health_check_key != WorkerSettings.health_check_key


def test_the_tutor_worker_runs_only_runs_tried_once_on_its_own_queue() -> None:
    assert {f.name for f in TutorWorkerSettings.functions} == TUTOR_TASKS
    assert TutorWorkerSettings.cron_jobs == []
    assert FUNCTIONS["tutor.run"].max_tries == 1, "a run is never sent to a provider twice"
    queues = {WorkerSettings.queue_name, MediaWorkerSettings.queue_name}
    assert TutorWorkerSettings.queue_name not in queues
    assert jobs.worker.WORKERS["tutor"] is TutorWorkerSettings


def test_every_task_has_its_own_timeout_and_payment_tasks_take_seconds() -> None:
    assert all(f.timeout_s for f in FUNCTIONS.values())
    payments = [f for name, f in FUNCTIONS.items() if name.startswith("payments.")]
    assert {"payments.refund", "payments.query"} <= {f.name for f in payments}
    assert FUNCTIONS["payments.refund"].timeout_s == FUNCTIONS["payments.query"].timeout_s == 30


def test_every_cron_task_runs_on_the_default_queue() -> None:
    assert all(TASKS.tasks[c.name.removeprefix("cron:")].queue is None for c in TASKS.cron_jobs())


def test_a_task_on_an_unknown_queue_or_a_media_task_on_a_schedule_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown queue"):
        task("test.nowhere", timeout=1, queue="slow")
    media_only = task("test.media_only", timeout=1, queue=MEDIA_QUEUE)(_nothing)
    with pytest.raises(ValueError, match="default queue"):
        schedule(media_only, second=0)
    tasks = TaskList.of([*TASKS.tasks.values(), media_only], TASKS.schedules)
    assert "test.media_only" in {f.name for f in tasks.functions_for(MEDIA_QUEUE)}
    assert "test.media_only" not in {f.name for f in tasks.functions_for(None)}


def test_the_task_list_refuses_a_name_twice_and_a_schedule_of_a_task_not_listed() -> None:
    first = task("test.twice", timeout=1)(_nothing)
    second = task("test.twice", timeout=1)(_nothing)
    with pytest.raises(ValueError, match="listed twice"):
        TaskList.of([first, second])
    with pytest.raises(ValueError, match="not in the task list"):
        TaskList.of([first], [schedule(second, second=0)])


def test_declaring_a_task_or_a_schedule_changes_no_task_list() -> None:
    before = (dict(TASKS.functions), [c.name for c in TASKS.cron_jobs()])
    declared = task("test.declared", timeout=1)(_nothing)
    schedule(declared, second=0)
    assert (dict(TASKS.functions), [c.name for c in TASKS.cron_jobs()]) == before
    assert "test.declared" not in {f.name for f in WorkerSettings.functions}


def test_each_runner_gets_cron_jobs_of_its_own() -> None:
    first, again = TASKS.cron_jobs(), TASKS.cron_jobs()
    assert [c.name for c in first] == [c.name for c in again]
    assert not {id(c) for c in first} & {id(c) for c in again}


async def _nothing(ctx: dict[str, Any]) -> None:
    return None


def test_worker_queues_live_under_the_deployment_key_prefix() -> None:
    settings = make_settings(key_prefix="acme")
    queues = queue_names(settings)
    assert queues[None] == queues["default"] == "acme:queue"
    assert queues["media"] == "acme:queue:media"


def test_arq_builds_the_default_worker_from_its_settings_class() -> None:
    # `arq jobs.worker.WorkerSettings` builds its Worker with arq.worker.create_worker.
    worker = create_worker(WorkerSettings, handle_signals=False)
    crons = {c.name for c in WorkerSettings.cron_jobs}
    assert set(worker.functions) == (set(FUNCTIONS) - MEDIA_TASKS - TUTOR_TASKS) | crons
    assert worker.queue_name == WorkerSettings.queue_name
    assert worker.on_startup is jobs.worker.startup
    assert worker.on_shutdown is jobs.worker.shutdown
    assert worker.redis_settings == WorkerSettings.redis_settings


def test_arq_builds_the_media_worker_with_media_tasks_and_the_startup_hooks() -> None:
    # `arq jobs.worker.MediaWorkerSettings` builds its Worker with arq.worker.create_worker.
    worker = create_worker(MediaWorkerSettings, handle_signals=False)
    assert set(worker.functions) == MEDIA_TASKS
    assert worker.cron_jobs == []
    assert worker.queue_name == MediaWorkerSettings.queue_name
    assert worker.on_startup is jobs.worker.startup
    assert worker.on_shutdown is jobs.worker.shutdown
    assert worker.redis_settings == WorkerSettings.redis_settings


def test_plain_arq_claims_jobs_for_its_own_longest_task_and_ours_for_a_lease() -> None:
    for settings_class in (WorkerSettings, MediaWorkerSettings):
        longest = max(f.timeout_s or 0 for f in settings_class.functions)
        plain = create_worker(settings_class, handle_signals=False)
        assert plain.in_progress_timeout_s == longest + 10
        ours = jobs.worker.build_worker(settings_class, handle_signals=False)
        assert isinstance(ours, QueueWorker)
        assert set(ours.functions) == set(plain.functions)
        assert ours.in_progress_timeout_s == LEASE_SECONDS < longest


async def test_python_m_jobs_check_passes_only_once_a_worker_recorded_its_health(
    settings: Settings, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert settings.redis_url is not None
    health_key = settings.channel("worker:WorkerSettings:health")
    redis_settings = RedisSettings.from_dsn(settings.redis_url)
    fields = {"redis_settings": redis_settings, "health_check_key": health_key}
    probe = type("WorkerSettings", (), fields)
    monkeypatch.setattr(jobs.worker, "WORKERS", {"worker": probe, "media": probe})

    assert await asyncio.to_thread(jobs_main, ["worker", "--check"]) == 1
    await redis.set(health_key, b"j_complete=0", px=60_000)
    assert await asyncio.to_thread(jobs_main, ["worker", "--check"]) == 0
    with pytest.raises(SystemExit):
        jobs_main(["reports"])


# --- end to end: the fast path --------------------------------------------------------------------


async def test_a_committed_outbox_job_is_queued_at_once_and_the_worker_runs_it(
    attached: Runtime, settings: Settings, redis: Redis, events: RecordingEvents
) -> None:
    now = attached.clock.now()
    async with attached.db.unit_of_work() as uow:
        uow.session.add(idempotency_key("expired", expires_in=-timedelta(seconds=1), now=now))
        uow.session.add(idempotency_key("fresh", expires_in=timedelta(hours=1), now=now))
        uow.outbox.enqueue(PURGE)
        uow.outbox.publish("notification.created", {"id": 7}, user_id=42)
    job_row, event_row = [row.id for row in uow.outbox.written]

    # Fast path: right after commit, the job is on the arq queue and the event was sent.
    assert await queued_job_ids(redis, settings) == [arq_job_id(settings, f"outbox:{job_row}")]
    assert events.sent == [
        Event(
            type="notification.created",
            data={"id": 7},
            user_ids=(42,),
            room=None,
            dedupe_id=f"outbox:{event_row}",
        )
    ]
    assert await outbox_count(attached) == 0

    worker = await run_burst(settings, {"runtime": attached})

    assert (worker.jobs_complete, worker.jobs_failed) == (1, 0)
    assert await remaining_keys(attached) == ["fresh"]
    result = await ArqJob(arq_job_id(settings, f"outbox:{job_row}"), redis).result_info()
    assert result is not None and result.success and result.result == 1
    assert await queued_job_ids(redis, settings) == []


async def test_a_rolled_back_unit_of_work_queues_nothing(
    attached: Runtime, settings: Settings, redis: Redis
) -> None:
    with pytest.raises(RuntimeError):
        async with attached.db.unit_of_work() as uow:
            uow.outbox.enqueue(PURGE)
            await uow.session.flush()
            raise RuntimeError("the service failed")

    assert await queued_job_ids(redis, settings) == []
    assert await outbox_count(attached) == 0


# --- the sweep ------------------------------------------------------------------------------------


async def test_the_sweep_task_relays_rows_the_fast_path_missed(
    attached: Runtime, settings: Settings, redis: Redis
) -> None:
    await insert_keys(attached)
    stale = await insert_outbox_row(attached, age=timedelta(minutes=1))
    recent = await insert_outbox_row(attached, age=timedelta(0))  # may still be in flight
    assert attached.redis is not None
    await attached.redis.enqueue_job(SWEEP, _queue_name=queue_names(settings)[None])

    worker = await run_burst(settings, {"runtime": attached})

    sweep_result = worker.jobs_complete, worker.jobs_failed
    assert sweep_result == (2, 0), "the sweep and the job it relayed"
    async with attached.db.sessions() as session:
        left = list((await session.scalars(select(OutboxMessage.id))).all())
    assert left == [recent]
    relayed = await ArqJob(arq_job_id(settings, f"outbox:{stale}"), redis).result_info()
    assert relayed is not None and relayed.success and relayed.result == 1
    assert await remaining_keys(attached) == ["fresh"]


async def test_the_sweep_without_attached_sinks_relays_nothing(
    runtime: Runtime, settings: Settings, redis: Redis
) -> None:
    stale = await insert_outbox_row(runtime, age=timedelta(minutes=1))
    assert runtime.redis is not None
    await runtime.redis.enqueue_job(SWEEP, _queue_name=queue_names(settings)[None])

    worker = await run_burst(settings, {"runtime": runtime})

    assert worker.jobs_complete == 1
    assert await ArqJob(arq_job_id(settings, f"outbox:{stale}"), redis).result_info() is None
    assert await outbox_count(runtime) == 1


async def test_relaying_the_same_row_twice_enqueues_one_job(
    attached: Runtime, settings: Settings, redis: Redis
) -> None:
    assert attached.relay is not None
    row_id = await insert_outbox_row(attached, age=timedelta(minutes=1))

    assert await attached.relay.sweep() == 1
    # The same row again, as after a crash between enqueueing and deleting it.
    await insert_outbox_row(attached, age=timedelta(minutes=1), row_id=row_id)
    assert await attached.relay.sweep() == 1

    assert await queued_job_ids(redis, settings) == [arq_job_id(settings, f"outbox:{row_id}")]
    assert await outbox_count(attached) == 0

    worker = await run_burst(settings, {"runtime": attached})
    assert (worker.jobs_complete, worker.jobs_failed) == (1, 0)

    # Once it ran, only its kept result holds the id: whoever sends it again gets another run
    # (tasks are idempotent; the recovery sweeps count on it).
    await insert_outbox_row(attached, age=timedelta(minutes=1), row_id=row_id)
    assert await attached.relay.sweep() == 1
    assert await queued_job_ids(redis, settings) == [arq_job_id(settings, f"outbox:{row_id}")]
    assert await outbox_count(attached) == 0


# --- startup / shutdown ---------------------------------------------------------------------------


async def test_startup_builds_a_runtime_wired_to_arq_and_socketio_and_shutdown_closes_it(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jobs.worker, "settings", settings)
    ctx: dict[str, Any] = {}

    await jobs.worker.startup(ctx)
    runtime: Runtime = ctx["runtime"]
    try:
        assert runtime.settings is settings
        assert isinstance(runtime.jobs, ArqJobSink)
        assert isinstance(runtime.events, SocketEventSink)
        assert runtime.relay is not None
        assert runtime.db.after_commit is not None
        assert ctx["metrics"] is not None
        await runtime.db.ping()
        async with runtime.db.read() as session:
            lock_wait = await session.scalar(text("SELECT @@session.innodb_lock_wait_timeout"))
        # Workers wait longer for the database than requests do (reports scan for a while).
        assert int(lock_wait) == settings.job_database_statement_timeout_seconds - 1
        assert runtime.redis is not None
        assert await runtime.redis.ping()
    finally:
        await jobs.worker.shutdown(ctx)

    assert runtime.db.after_commit is None
    assert runtime.db.engine.pool.checkedout() == 0


async def test_shutdown_without_a_runtime_does_nothing() -> None:
    await jobs.worker.shutdown({})


async def test_startup_refuses_to_run_without_redis(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        jobs.worker, "settings", make_settings(database_url=database_url, redis_url=None)
    )
    ctx: dict[str, Any] = {}
    with pytest.raises(RuntimeError, match="REDIS_URL"):
        await jobs.worker.startup(ctx)
    assert "runtime" not in ctx


async def test_startup_refuses_an_ai_provider_listed_without_its_base_url(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AI_GHOST_BASE_URL", raising=False)
    monkeypatch.setattr(
        jobs.worker, "settings", make_settings(database_url=database_url, ai_providers="ghost")
    )
    ctx: dict[str, Any] = {}
    with pytest.raises(ValueError, match="AI_GHOST_BASE_URL"):
        await jobs.worker.startup(ctx)
    assert "runtime" not in ctx


async def test_a_worker_built_from_worker_settings_runs_a_task_through_its_own_runtime(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, redis: Redis
) -> None:
    monkeypatch.setattr(jobs.worker, "settings", settings)
    observer = await Runtime.open(settings)
    try:
        await insert_keys(observer)
        assert observer.redis is not None
        await observer.redis.enqueue_job(
            PURGE, _job_id=arq_job_id(settings, "purge-1"), _queue_name=queue_names(settings)[None]
        )

        pool = await worker_pool(settings)
        worker = create_worker(
            WorkerSettings,
            cron_jobs=[],
            queue_name=queue_names(settings)[None],
            redis_pool=pool,
            burst=True,
            poll_delay=0,
            handle_signals=False,
        )
        try:
            await worker.async_run()
            runtime: Runtime = worker.ctx["runtime"]
        finally:
            await worker.close()  # runs on_shutdown

        assert (worker.jobs_complete, worker.jobs_failed) == (1, 0)
        assert runtime.db.after_commit is None, "on_shutdown closed the worker's runtime"
        assert await remaining_keys(observer) == ["fresh"]
        result = await ArqJob(arq_job_id(settings, "purge-1"), redis).result_info()
        assert result is not None and result.success and result.result == 1
    finally:
        await observer.close()
