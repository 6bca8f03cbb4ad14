"""How tasks and cron schedules are declared, and the task list the composition roots run.

A task module declares its tasks with `@task` and its schedules with `schedule`, and exposes them
as plain tuples, `TASKS` and `SCHEDULES`; declaring registers nothing anywhere. jobs/tasks.py
lists the modules, and the two composition roots that run tasks, the arq workers
(jobs/worker.py) and the embedded in-process runner (server/resources.py), take that list.

Each task names its queue (the default one unless `queue=`) and its timeout: a worker serves one
queue and runs only that queue's tasks, and every cron schedule runs on the default queue.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import structlog
from arq.cron import CronJob, cron
from arq.worker import Function, Retry, func

from server.metrics import Metrics
from server.outbox import MEDIA_QUEUE, TUTOR_QUEUE
from server.runtime import Runtime

log = structlog.get_logger("jobs")

TaskBody = Callable[..., Awaitable[Any]]
QUEUE_NAMES = (None, MEDIA_QUEUE, TUTOR_QUEUE)


@dataclass(frozen=True, slots=True)
class Task:
    """A declared task: arq's Function (name, measured coroutine, timeout, tries) and the outbox
    queue it is enqueued on (None: the default queue). Calling it runs it as a worker would."""

    function: Function
    queue: str | None

    @property
    def name(self) -> str:
        return self.function.name

    def __call__(self, ctx: dict[str, Any], **kwargs: Any) -> Awaitable[Any]:
        return self.function.coroutine(ctx, **kwargs)


@dataclass(frozen=True, slots=True)
class Schedule:
    """A cron schedule of a task (arq's `cron` fields)."""

    task: Task
    when: Mapping[str, Any]

    def cron_job(self) -> CronJob:
        """A fresh CronJob: a runner keeps its next run time on it."""
        function = self.task.function
        return cron(
            function.coroutine,
            name=f"cron:{function.name}",
            unique=True,
            timeout=function.timeout_s,
            **self.when,
        )


def task(
    name: str, *, timeout: float, max_tries: int = 5, queue: str | None = None
) -> Callable[[TaskBody], Task]:
    """Declare a task named `name`, measured and logged the same way wherever it runs.

    `timeout` is required: it bounds one run, and it is what a worker serving `queue` sizes its
    jobs' in-progress claims on, so it should be what the task really needs.
    """
    if queue not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {queue!r} for task {name!r}")

    def declare(fn: TaskBody) -> Task:
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

        return Task(func(run, name=name, timeout=timeout, max_tries=max_tries), queue)

    return declare


def schedule(task: Task, **when: Any) -> Schedule:
    """Run `task` on a cron schedule (arq's `cron` fields); only default-queue tasks may."""
    if task.queue is not None:
        raise ValueError(
            f"cron task {task.name!r} must be on the default queue, not {task.queue!r}"
        )
    declared = Schedule(task, MappingProxyType(dict(when)))
    declared.cron_job()  # arq checks the fields here, at declaration
    return declared


@dataclass(frozen=True)
class TaskList:
    """The tasks a process runs, by name, and their cron schedules."""

    tasks: Mapping[str, Task]
    schedules: tuple[Schedule, ...]

    @classmethod
    def of(cls, tasks: Iterable[Task], schedules: Iterable[Schedule] = ()) -> TaskList:
        """The list of `tasks`; a name twice, or a schedule of a task not listed, is refused."""
        by_name: dict[str, Task] = {}
        for declared in tasks:
            if declared.name in by_name:
                raise ValueError(f"task {declared.name!r} is listed twice")
            by_name[declared.name] = declared
        listed = tuple(schedules)
        for scheduled in listed:
            if by_name.get(scheduled.task.name) is not scheduled.task:
                raise ValueError(f"cron task {scheduled.task.name!r} is not in the task list")
        return cls(MappingProxyType(by_name), listed)

    @property
    def functions(self) -> dict[str, Function]:
        """Every task's arq Function, by name."""
        return {name: declared.function for name, declared in self.tasks.items()}

    def functions_for(self, queue: str | None) -> list[Function]:
        """The tasks a worker serving `queue` runs: that queue's own, and no other."""
        return [declared.function for declared in self.tasks.values() if declared.queue == queue]

    def cron_jobs(self) -> list[CronJob]:
        """Fresh CronJobs for every schedule, in the order listed."""
        return [scheduled.cron_job() for scheduled in self.schedules]


def deployment_cron_jobs(key_prefix: str, cron_jobs: Iterable[CronJob]) -> list[CronJob]:
    """The cron schedules as a deployment's worker runs them.

    arq ids a cron tick's job `<name>:<ms>` and runs a unique schedule once per id, so two
    deployments on one Redis DB would share the ids and each run only the ticks it queued first.
    The name takes the deployment's key prefix, as its other job ids do (jobs/sinks.py).
    """
    return [
        dataclasses.replace(job, name=f"{key_prefix}:{job.name}", next_run=None)
        for job in cron_jobs
    ]


def runtime_of(ctx: dict[str, Any]) -> Runtime:
    runtime: Runtime = ctx["runtime"]
    return runtime
