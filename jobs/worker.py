"""The workers: `python -m jobs worker` (the default queue and every cron schedule),
`python -m jobs media` (the media queue) and `python -m jobs tutor` (AI tutor runs). Each runs
only its own queue's tasks.

They run arq with `QueueWorker` (jobs/arq_worker.py): a killed worker's jobs run again within a
lease, and a Redis outage is waited out. `arq jobs.worker.WorkerSettings` still works but runs
arq's plain Worker, which has neither.

The worker builds the same Runtime as the web process; outbox rows written by tasks are relayed
to arq and to Socket.IO through a write-only Redis manager.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from arq.connections import RedisSettings
from arq.cron import CronJob
from arq.worker import get_kwargs
from prometheus_client import start_http_server

from jobs.arq_worker import QueueWorker
from jobs.registry import TaskList, deployment_cron_jobs
from jobs.sinks import MEDIA_QUEUE, TUTOR_QUEUE, ArqJobSink, queue_names
from jobs.tasks import TASKS
from realtime.events import SocketEventSink
from realtime.server import client_manager
from realtime.streams import event_streams
from server.content.items import indexing as content_indexing
from server.content.search import service as search_service
from server.identity.auth import passwords
from server.logs import configure_logging
from server.metrics import Metrics
from server.runtime import Runtime
from server.settings import Settings
from server.tutor.gateway import tokens as tutor_tokens
from server.tutor.retrieval import indexing as tutor_indexing
from server.tutor.runs import tools as tutor_tools

# Ports a domain fills from another it may not import: publishing keeps search current.
content_indexing.register(search_service)
content_indexing.follow(tutor_indexing.published_text_changed)
settings = Settings()


async def startup(ctx: dict[str, Any]) -> None:
    configure_logging(settings.log_level, settings.log_format)
    if settings.redis_url is None:
        raise RuntimeError("workers need REDIS_URL; the embedded mode runs jobs in-process")
    passwords.configure(
        time_cost=settings.password_hash_time_cost,
        memory_kib=settings.password_hash_memory_kib,
        parallelism=settings.password_hash_parallelism,
    )
    runtime = await Runtime.open(
        settings, statement_timeout=settings.job_database_statement_timeout_seconds
    )
    tutor_tokens.load()  # before the first run streams, not during it
    try:
        tutor_tools.tools_of(runtime)  # an AI provider listed without its URL stops the start
    except ValueError:
        await runtime.close()
        raise
    assert runtime.redis is not None
    emitter = client_manager(settings, write_only=True)
    # User events get their ids from the same per-user Redis streams as the web process's.
    events = SocketEventSink(emitter, streams=event_streams(settings, runtime.redis))
    runtime.attach(jobs=ArqJobSink(runtime.redis, settings), events=events)
    metrics = Metrics()
    if settings.worker_metrics_port:
        start_http_server(settings.worker_metrics_port, registry=metrics.registry)
    ctx.update(runtime=runtime, metrics=metrics, emitter=emitter)


async def shutdown(ctx: dict[str, Any]) -> None:
    runtime: Runtime | None = ctx.get("runtime")
    if runtime is not None:
        await tutor_tools.close(runtime)
        await runtime.close()
    emitter = ctx.get("emitter")
    if emitter is not None and getattr(emitter, "redis", None) is not None:
        await emitter.redis.aclose()


def _worker_settings(
    name: str,
    doc: str,
    *,
    tasks: TaskList,
    queue: str | None,
    cron_jobs: list[CronJob],
    max_jobs: int,
) -> type:
    """arq reads a settings class's own `__dict__` only, so each class gets every field.

    `functions` are the queue's own tasks only: arq sizes its in-progress claims on the longest
    timeout among them, and a job of another queue never lands here.
    """
    fields: dict[str, Any] = {
        "__doc__": doc,
        "functions": tasks.functions_for(queue),
        "cron_jobs": cron_jobs,
        "queue_name": queue_names(settings)[queue],
        "redis_settings": RedisSettings.from_dsn(settings.redis_url or "redis://127.0.0.1:6379"),
        "on_startup": startup,
        "on_shutdown": shutdown,
        "max_jobs": max_jobs,
        "poll_delay": settings.worker_poll_delay,
        "queue_read_limit": max_jobs * 10,
        "job_timeout": settings.job_timeout_seconds,
        "keep_result": 3600,
        "timezone": UTC,  # cron schedules in UTC, like the embedded runner
        "health_check_key": settings.channel(f"worker:{name}:health"),
    }
    return type(name, (), fields)


WorkerSettings = _worker_settings(
    "WorkerSettings",
    "Payments, notifications, reports, the outbox sweep and every cron schedule.",
    tasks=TASKS,
    queue=None,
    cron_jobs=deployment_cron_jobs(settings.key_prefix, TASKS.cron_jobs()),
    max_jobs=settings.worker_max_jobs,
)
MediaWorkerSettings = _worker_settings(
    "MediaWorkerSettings",
    "Slow media work on its own queue, so a transcode never delays a payment.",
    tasks=TASKS,
    queue=MEDIA_QUEUE,
    cron_jobs=[],
    max_jobs=4,
)

TutorWorkerSettings = _worker_settings(
    "TutorWorkerSettings",
    "AI tutor runs on their own queue: long streams that mostly wait on providers.",
    tasks=TASKS,
    queue=TUTOR_QUEUE,
    cron_jobs=[],
    max_jobs=settings.tutor_worker_max_jobs,
)

WORKERS: dict[str, type] = {
    "worker": WorkerSettings,
    "media": MediaWorkerSettings,
    "tutor": TutorWorkerSettings,
}


def build_worker(settings_class: type, **overrides: Any) -> QueueWorker:
    """The worker `python -m jobs` runs: arq's, from the class's fields, with leases and
    outage tolerance (arq's CLI has no hook to choose the Worker class)."""
    return QueueWorker(**{**get_kwargs(settings_class), **overrides})
