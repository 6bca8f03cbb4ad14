"""arq worker settings: `arq jobs.worker.WorkerSettings` (and `MediaWorkerSettings`).

The worker builds the same Runtime as the web process; outbox rows written by tasks are relayed
to arq and to Socket.IO through a write-only Redis manager.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from arq.connections import RedisSettings
from arq.cron import CronJob
from prometheus_client import start_http_server

from jobs.registry import CRON_JOBS, FUNCTIONS, load_tasks
from jobs.sinks import MEDIA_QUEUE, ArqJobSink, queue_names
from realtime.events import SocketEventSink
from realtime.server import client_manager
from realtime.streams import event_streams
from server.auth import passwords
from server.logs import configure_logging
from server.metrics import Metrics
from server.runtime import Runtime
from server.settings import Settings

load_tasks()
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
    runtime = await Runtime.open(settings)
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
        await runtime.close()
    emitter = ctx.get("emitter")
    if emitter is not None and getattr(emitter, "redis", None) is not None:
        await emitter.redis.aclose()


def _worker_settings(
    name: str, doc: str, *, queue: str, cron_jobs: list[CronJob], max_jobs: int
) -> type:
    """arq reads a settings class's own `__dict__` only, so each class gets every field."""
    fields: dict[str, Any] = {
        "__doc__": doc,
        "functions": list(FUNCTIONS.values()),
        "cron_jobs": cron_jobs,
        "queue_name": queue,
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
    queue=queue_names(settings)[None],
    cron_jobs=CRON_JOBS,
    max_jobs=settings.worker_max_jobs,
)
MediaWorkerSettings = _worker_settings(
    "MediaWorkerSettings",
    "Slow media work on its own queue, so a transcode never delays a payment.",
    queue=queue_names(settings)[MEDIA_QUEUE],
    cron_jobs=[],
    max_jobs=4,
)
