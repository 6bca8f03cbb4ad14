"""The embedded mode's job runner: the same task functions, with defer, cron and retry, in-process.

Nothing here is durable: a job not yet run is gone when the process stops. Production uses arq.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

import structlog
from arq.cron import CronJob
from arq.worker import Function, Retry

from server.outbox import Job

log = structlog.get_logger("jobs.inprocess")

_SEEN_JOB_IDS = 10_000  # like arq, a job id is unique while its result is kept


class InProcessJobRunner:
    """Runs registered tasks as asyncio tasks; implements the outbox's JobSink."""

    def __init__(
        self,
        functions: dict[str, Function],
        cron_jobs: list[CronJob],
        ctx: dict[str, Any],
        *,
        default_timeout: float = 300,
        default_max_tries: int = 5,
    ) -> None:
        self._functions = functions
        self._cron_jobs = cron_jobs
        self._ctx = ctx
        self._default_timeout = default_timeout
        self._default_max_tries = default_max_tries
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._cron_tasks: set[asyncio.Task[Any]] = set()
        self._counter = 0
        self.results: dict[str, Any] = {}

    async def enqueue(self, job: Job) -> None:
        if job.task not in self._functions:
            raise LookupError(f"unknown task {job.task!r}")
        self._counter += 1
        job_id = job.job_id or f"inprocess:{self._counter}"
        if job_id in self._seen:
            return
        self._seen[job_id] = None
        if len(self._seen) > _SEEN_JOB_IDS:
            self._seen.popitem(last=False)
        self._spawn(self._run(job.task, job_id, job.kwargs, job.defer_seconds or 0, 1))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(
        self, name: str, job_id: str, kwargs: dict[str, Any], delay: float, job_try: int
    ) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        function = self._functions[name]
        ctx = {**self._ctx, "job_id": job_id, "job_try": job_try}
        timeout = function.timeout_s or self._default_timeout
        max_tries = function.max_tries or self._default_max_tries
        try:
            self.results[job_id] = await asyncio.wait_for(
                function.coroutine(ctx, **kwargs), timeout
            )
        except Retry as retry:
            if job_try >= max_tries:
                log.warning("job.gave_up", task=name, job_id=job_id, tries=job_try)
                return
            defer = (retry.defer_score or 0) / 1000
            self._spawn(self._run(name, job_id, kwargs, defer, job_try + 1))
        except Exception as exc:  # logged by the task wrapper; arq also does not retry these
            self.results[job_id] = exc

    async def _cron_loop(self, cron_job: CronJob) -> None:
        cron_job.calculate_next(datetime.now(UTC))
        while True:
            assert cron_job.next_run is not None
            await asyncio.sleep(max(0.0, (cron_job.next_run - datetime.now(UTC)).total_seconds()))
            ran_at = datetime.now(UTC)
            with contextlib.suppress(Exception):  # failures are logged by the task wrapper
                await self._call_cron(cron_job)
            cron_job.calculate_next(ran_at)

    async def _call_cron(self, cron_job: CronJob) -> None:
        ctx = {**self._ctx, "job_id": cron_job.name, "job_try": 1}
        timeout = cron_job.timeout_s or self._default_timeout
        await asyncio.wait_for(cron_job.coroutine(ctx), timeout)

    def start(self) -> None:
        for cron_job in self._cron_jobs:
            self._cron_tasks.add(asyncio.create_task(self._cron_loop(cron_job)))

    async def stop(self) -> None:
        tasks = [*self._tasks, *self._cron_tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def drain(self, within: float = 10) -> None:
        """Wait until no one-off job is pending (cron loops excluded). For tests and shutdown."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            if not self._tasks:
                return
            await asyncio.wait(list(self._tasks), timeout=deadline - loop.time())
        raise TimeoutError("jobs still running")
