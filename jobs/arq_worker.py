"""arq's Worker, made to outlive a crash of its peers and an outage of Redis.

* A started job is claimed by an in-progress key. arq sets it once, for the worker's longest task
  timeout + 10 s, so a job whose worker was killed waited that long (half an hour with media
  tasks) before another worker could take it. Here the claim is a short lease the worker renews
  while the job runs: a killed worker's jobs run again one lease later, whatever their timeout.
* arq's poll loop exits on the first Redis error, and the cron schedules and the outbox sweep stop
  with it. Here a Redis error in a poll is logged and the poll retried with a short backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import structlog
from arq.constants import in_progress_key_prefix
from arq.worker import Worker
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = structlog.get_logger("jobs.worker")

# What a lost Redis raises; anything else still stops the worker, as arq does.
REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)

LEASE_SECONDS = 20.0
OUTAGE_BACKOFF_SECONDS = (0.5, 5.0)  # first wait, longest wait


class QueueWorker(Worker):
    """An arq Worker with renewed job leases that rides out Redis outages."""

    def __init__(self, *args: Any, lease_seconds: float = LEASE_SECONDS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lease_seconds = lease_seconds
        # arq's own claim (longest timeout + 10 s) is the upper bound; the lease is usually shorter.
        self.in_progress_timeout_s = min(self.in_progress_timeout_s, lease_seconds)
        self.redis_failures = 0

    async def main(self) -> None:
        renewing = asyncio.ensure_future(self._renew_leases())
        try:
            await super().main()
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing

    # --- leases -----------------------------------------------------------------------------------

    async def _renew_leases(self) -> None:
        """Every third of a lease, push the claim of each job still running a lease ahead."""
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                await self.renew_leases()
            except REDIS_DOWN as exc:  # the claims run out; another worker may take the jobs
                log.warning("worker.lease_renewal_failed", error=repr(exc))

    async def renew_leases(self) -> int:
        running = [job_id for job_id, t in self.tasks.items() if not t.done()]
        if not running or self._pool is None:
            return 0
        lease_ms = int(self.lease_seconds * 1000)
        async with self.pool.pipeline(transaction=False) as pipe:
            for job_id in running:
                # GT: never shorten a claim (arq keeps a finished cron job's for 60 s); a key
                # already deleted by the job's end stays deleted.
                pipe.pexpire(in_progress_key_prefix + job_id, lease_ms, gt=True)
            await pipe.execute()
        return len(running)

    # --- Redis outages ----------------------------------------------------------------------------

    async def _poll_iteration(self) -> None:
        try:
            await super()._poll_iteration()
        except REDIS_DOWN as exc:
            self.redis_failures += 1
            first, longest = OUTAGE_BACKOFF_SECONDS
            wait = min(first * 2 ** (self.redis_failures - 1), longest)
            log.warning(
                "worker.redis_unavailable",
                queue=self.queue_name,
                failures=self.redis_failures,
                retry_in=wait,
                error=repr(exc),
            )
            await asyncio.sleep(wait)
        else:
            if self.redis_failures:
                log.info("worker.redis_back", queue=self.queue_name, failures=self.redis_failures)
                self.redis_failures = 0

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        try:
            await super().start_jobs(job_ids)
        except REDIS_DOWN:
            # arq took a slot (semaphore and counter) for the job it was claiming when Redis
            # failed, and gives it back only when a started job ends: give it back here, or each
            # outage would leave the worker one job slot short.
            self.job_counter -= 1
            self.sem.release()
            raise
