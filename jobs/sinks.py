"""Where the outbox sends jobs in production: arq queues on Redis."""

from __future__ import annotations

from arq.connections import ArqRedis

from server.outbox import Job
from server.settings import Settings

MEDIA_QUEUE = "media"


def queue_names(settings: Settings) -> dict[str | None, str]:
    default = settings.channel("queue")
    return {None: default, "default": default, MEDIA_QUEUE: settings.channel("queue:media")}


class ArqJobSink:
    """Enqueue by task name; arq refuses a repeated job id, which makes relaying idempotent."""

    def __init__(self, redis: ArqRedis, settings: Settings) -> None:
        self._redis = redis
        self._queues = queue_names(settings)

    async def enqueue(self, job: Job) -> None:
        await self._redis.enqueue_job(
            job.task,
            _job_id=job.job_id,
            _queue_name=self._queues.get(job.queue, self._queues[None]),
            _defer_by=job.defer_seconds,
            **job.kwargs,
        )
