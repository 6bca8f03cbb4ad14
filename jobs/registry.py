"""Every task and cron schedule, shared by the arq workers and the embedded in-process runner.

Each task names its queue (the default one unless `queue=`) and its timeout: a worker serves one
queue and runs only that queue's tasks, and every cron schedule runs on the default queue.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import structlog
from arq.cron import CronJob, cron
from arq.worker import Function, Retry, func

from server.metrics import Metrics
from server.outbox import MEDIA_QUEUE
from server.runtime import Runtime

log = structlog.get_logger("jobs")

Task = Callable[..., Awaitable[Any]]
FUNCTIONS: dict[str, Function] = {}
CRON_JOBS: list[CronJob] = []
# Task name -> the outbox queue it is enqueued on (None: the default queue).
QUEUES: dict[str, str | None] = {}
QUEUE_NAMES = (None, MEDIA_QUEUE)


def task(
    name: str, *, timeout: float, max_tries: int = 5, queue: str | None = None
) -> Callable[[Task], Task]:
    """Register a task under `name`, measured and logged the same way wherever it runs.

    `timeout` is required: it bounds one run, and it is what a worker serving `queue` sizes its
    jobs' in-progress claims on, so it should be what the task really needs.
    """
    if queue not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {queue!r} for task {name!r}")

    def register(fn: Task) -> Task:
        @functools.wraps(fn)
        async def run(ctx: dict[str, Any], **kwargs: Any) -> Any:
            metrics: Metrics | None = ctx.get("metrics")
            started = time.perf_counter()
            outcome = "ok"
            try:
                return await fn(ctx, **kwargs)
            except Retry:
                outcome = "retry"
                raise
            except Exception:
                outcome = "error"
                log.exception("job.failed", task=name, job_id=ctx.get("job_id"))
                raise
            finally:
                if metrics is not None:
                    metrics.jobs.labels(name, outcome).inc()
                    metrics.job_duration.labels(name).observe(time.perf_counter() - started)

        FUNCTIONS[name] = func(run, name=name, timeout=timeout, max_tries=max_tries)
        QUEUES[name] = queue
        return run

    return register


def schedule(name: str, **when: Any) -> None:
    """Run the registered task `name` on a cron schedule (arq's `cron` fields)."""
    function = FUNCTIONS[name]
    if QUEUES[name] is not None:
        raise ValueError(f"cron task {name!r} must be on the default queue, not {QUEUES[name]!r}")
    CRON_JOBS.append(
        cron(
            function.coroutine, name=f"cron:{name}", unique=True, timeout=function.timeout_s, **when
        )
    )


def deployment_cron_jobs(
    key_prefix: str, cron_jobs: Iterable[CronJob] | None = None
) -> list[CronJob]:
    """The cron schedules (every one unless `cron_jobs`) as a deployment's worker runs them.

    arq ids a cron tick's job `<name>:<ms>` and runs a unique schedule once per id, so two
    deployments on one Redis DB would share the ids and each run only the ticks it queued first.
    The name takes the deployment's key prefix, as its other job ids do (jobs/sinks.py).
    """
    return [
        dataclasses.replace(job, name=f"{key_prefix}:{job.name}", next_run=None)
        for job in (CRON_JOBS if cron_jobs is None else cron_jobs)
    ]


def functions_for(queue: str | None) -> list[Function]:
    """The tasks a worker serving `queue` runs: that queue's own, and no other."""
    return [function for name, function in FUNCTIONS.items() if QUEUES[name] == queue]


def runtime_of(ctx: dict[str, Any]) -> Runtime:
    runtime: Runtime = ctx["runtime"]
    return runtime


def load_tasks() -> None:
    """Import every task module so its tasks register."""
    from jobs import (  # noqa: F401
        accounts,
        content,
        counters,
        earnings,
        identity,
        invoices,
        media,
        notifications,
        orders,
        payments,
        platform,
        push,
        recovery,
        social,
        subscriptions,
        users,
        wallet,
    )
