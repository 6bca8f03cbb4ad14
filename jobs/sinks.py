"""Where the outbox sends jobs in production: arq queues on Redis."""

from __future__ import annotations

import structlog
from arq.connections import ArqRedis
from arq.constants import job_key_prefix, result_key_prefix

from server.outbox import MEDIA_QUEUE, TUTOR_QUEUE, Job
from server.settings import Settings

log = structlog.get_logger("jobs.sinks")


def queue_names(settings: Settings) -> dict[str | None, str]:
    default = settings.channel("queue")
    return {
        None: default,
        "default": default,
        MEDIA_QUEUE: settings.channel("queue:media"),
        TUTOR_QUEUE: settings.channel("queue:tutor"),
    }


def arq_job_id(settings: Settings, job_id: str) -> str:
    """arq keeps jobs under `arq:job:<id>` whatever the queue: the deployment's prefix in the id
    keeps two deployments on one Redis from taking each other's `outbox:1` as a repeat."""
    return f"{settings.key_prefix}:{job_id}"


class ArqJobSink:
    """Enqueue by task name. A job id still queued or running is not queued twice, which makes
    relaying and the recovery sweeps idempotent; an id held only by the kept result of a finished
    run is queued again (whoever sends it again knows from the database that work is left)."""

    def __init__(self, redis: ArqRedis, settings: Settings) -> None:
        self._redis = redis
        self._settings = settings
        self._queues = queue_names(settings)

    async def enqueue(self, job: Job) -> None:
        job_id = None if job.job_id is None else arq_job_id(self._settings, job.job_id)
        for _ in range(2):
            queued = await self._redis.enqueue_job(
                job.task,
                _job_id=job_id,
                _queue_name=self._queues.get(job.queue, self._queues[None]),
                _defer_by=job.defer_seconds,
                **job.kwargs,
            )
            if queued is not None or job_id is None:
                return
            # arq refuses an id while `arq:job:<id>` (queued, deferred, running) or
            # `arq:result:<id>` (a finished run's result, kept an hour) exists.
            if await self._redis.exists(job_key_prefix + job_id):
                log.debug("jobs.already_queued", task=job.task, job_id=job_id)
                return
            await self._redis.delete(result_key_prefix + job_id)
            log.info("jobs.requeued_after_result", task=job.task, job_id=job_id)
        log.debug("jobs.already_queued", task=job.task, job_id=job_id)
