"""Where the outbox sends jobs in production: arq queues on Redis."""

from __future__ import annotations

from arq.connections import ArqRedis

from server.outbox import MEDIA_QUEUE, Job
from server.settings import Settings


def queue_names(settings: Settings) -> dict[str | None, str]:
    default = settings.channel("queue")
    return {None: default, "default": default, MEDIA_QUEUE: settings.channel("queue:media")}


def arq_job_id(settings: Settings, job_id: str) -> str:
    """arq keeps jobs under `arq:job:<id>` whatever the queue: the deployment's prefix in the id
    keeps two deployments on one Redis from taking each other's `outbox:1` as a repeat."""
    return f"{settings.key_prefix}:{job_id}"


class ArqJobSink:
    """Enqueue by task name; arq refuses a repeated job id, which makes relaying idempotent."""

    def __init__(self, redis: ArqRedis, settings: Settings) -> None:
        self._redis = redis
        self._settings = settings
        self._queues = queue_names(settings)

    async def enqueue(self, job: Job) -> None:
        await self._redis.enqueue_job(
            job.task,
            _job_id=None if job.job_id is None else arq_job_id(self._settings, job.job_id),
            _queue_name=self._queues.get(job.queue, self._queues[None]),
            _defer_by=job.defer_seconds,
            **job.kwargs,
        )
