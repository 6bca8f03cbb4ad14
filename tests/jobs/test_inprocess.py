"""The embedded mode's job runner honours ids, defer, retry, cron and failures like arq does.

Tasks here are registered with arq's own `func`/`cron` into a dict of the test's own, so the
shared registry (jobs.registry.FUNCTIONS) stays untouched.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from arq.cron import CronJob, cron
from arq.worker import Function, Retry, func

from jobs.inprocess import InProcessJobRunner
from server.outbox import Job

MakeRunner = Callable[..., InProcessJobRunner]


@pytest.fixture
async def make_runner() -> AsyncIterator[MakeRunner]:
    runners: list[InProcessJobRunner] = []

    def make(
        *functions: Function,
        cron_jobs: list[CronJob] | None = None,
        ctx: dict[str, Any] | None = None,
        **options: Any,
    ) -> InProcessJobRunner:
        runner = InProcessJobRunner(
            {f.name: f for f in functions}, cron_jobs or [], ctx or {}, **options
        )
        runners.append(runner)
        return runner

    yield make
    for runner in runners:
        await runner.stop()


class Recorder:
    """A task body that records every call (ctx, kwargs, time) and can be made to block."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.called = asyncio.Event()

    def record(self, ctx: dict[str, Any], kwargs: dict[str, Any]) -> None:
        loop = asyncio.get_running_loop()
        self.calls.append({"ctx": dict(ctx), "kwargs": kwargs, "at": loop.time()})
        self.called.set()

    async def wait_for_calls(self, count: int) -> None:
        while len(self.calls) < count:
            self.called.clear()
            await self.called.wait()


def recording_task(name: str, recorder: Recorder, result: Any = None, **options: Any) -> Function:
    async def run(ctx: dict[str, Any], **kwargs: Any) -> Any:
        recorder.record(ctx, kwargs)
        return result

    return func(run, name=name, **options)


async def test_a_job_runs_with_the_given_ctx_plus_its_job_id_and_first_try(
    make_runner: MakeRunner,
) -> None:
    recorder = Recorder()
    runner = make_runner(recording_task("t.echo", recorder, result=42), ctx={"runtime": "rt"})

    await runner.enqueue(Job("t.echo", {"a": 1, "b": "x"}, job_id="job-1"))
    await runner.drain()

    assert len(recorder.calls) == 1
    call = recorder.calls[0]
    assert call["ctx"] == {"runtime": "rt", "job_id": "job-1", "job_try": 1}
    assert call["kwargs"] == {"a": 1, "b": "x"}
    assert runner.results["job-1"] == 42


async def test_jobs_do_not_share_or_change_the_runner_ctx(make_runner: MakeRunner) -> None:
    seen: list[dict[str, Any]] = []

    async def mutate(ctx: dict[str, Any]) -> None:
        seen.append(dict(ctx))
        ctx["leak"] = True

    base_ctx = {"runtime": "rt"}
    runner = make_runner(func(mutate, name="t.mutate"), ctx=base_ctx)
    await runner.enqueue(Job("t.mutate", job_id="a"))
    await runner.drain()
    await runner.enqueue(Job("t.mutate", job_id="b"))
    await runner.drain()

    assert base_ctx == {"runtime": "rt"}
    assert "leak" not in seen[1]


async def test_jobs_without_an_id_each_get_their_own(make_runner: MakeRunner) -> None:
    recorder = Recorder()
    runner = make_runner(recording_task("t.echo", recorder))

    for _ in range(3):
        await runner.enqueue(Job("t.echo"))
    await runner.drain()

    job_ids = [call["ctx"]["job_id"] for call in recorder.calls]
    assert len(job_ids) == 3
    assert len(set(job_ids)) == 3


async def test_defer_seconds_delays_the_job(make_runner: MakeRunner) -> None:
    recorder = Recorder()
    runner = make_runner(recording_task("t.later", recorder))
    loop = asyncio.get_running_loop()

    enqueued_at = loop.time()
    await runner.enqueue(Job("t.later", job_id="deferred", defer_seconds=0.3))
    await asyncio.sleep(0.1)
    assert recorder.calls == [], "a deferred job ran early"

    await runner.drain()
    assert len(recorder.calls) == 1
    assert recorder.calls[0]["at"] - enqueued_at >= 0.25


async def test_a_retried_job_runs_again_with_job_try_incremented_up_to_max_tries(
    make_runner: MakeRunner,
) -> None:
    tries: list[int] = []

    async def flaky(ctx: dict[str, Any]) -> None:
        tries.append(ctx["job_try"])
        raise Retry(defer=0.01)

    runner = make_runner(func(flaky, name="t.flaky", max_tries=3))
    await runner.enqueue(Job("t.flaky", job_id="flaky-1"))
    await runner.drain()

    assert tries == [1, 2, 3]
    await asyncio.sleep(0.05)
    assert tries == [1, 2, 3], "the job ran past max_tries"


async def test_a_retry_keeps_the_job_id_and_kwargs_and_waits_its_defer(
    make_runner: MakeRunner,
) -> None:
    calls: list[tuple[str, int, dict[str, Any], float]] = []
    loop = asyncio.get_running_loop()

    async def once_more(ctx: dict[str, Any], **kwargs: Any) -> str:
        calls.append((ctx["job_id"], ctx["job_try"], kwargs, loop.time()))
        if ctx["job_try"] == 1:
            raise Retry(defer=0.2)
        return "done"

    runner = make_runner(func(once_more, name="t.once_more", max_tries=5))
    await runner.enqueue(Job("t.once_more", {"n": 7}, job_id="again"))
    await runner.drain()

    assert [(job_id, job_try, kwargs) for job_id, job_try, kwargs, _ in calls] == [
        ("again", 1, {"n": 7}),
        ("again", 2, {"n": 7}),
    ]
    assert calls[1][3] - calls[0][3] >= 0.15
    assert runner.results["again"] == "done"


async def test_retries_fall_back_to_the_runner_default_max_tries(make_runner: MakeRunner) -> None:
    tries: list[int] = []

    async def flaky(ctx: dict[str, Any]) -> None:
        tries.append(ctx["job_try"])
        raise Retry()

    runner = make_runner(func(flaky, name="t.flaky"), default_max_tries=2)
    await runner.enqueue(Job("t.flaky"))
    await runner.drain()

    assert tries == [1, 2]


async def test_a_duplicate_job_id_runs_once(make_runner: MakeRunner) -> None:
    recorder = Recorder()
    runner = make_runner(recording_task("t.echo", recorder))

    await runner.enqueue(Job("t.echo", {"n": 1}, job_id="same"))
    await runner.enqueue(Job("t.echo", {"n": 2}, job_id="same"))  # while the first is pending
    await runner.drain()
    await runner.enqueue(Job("t.echo", {"n": 3}, job_id="same"))  # after the first ran
    await runner.drain()

    assert [call["kwargs"] for call in recorder.calls] == [{"n": 1}]


async def test_an_unknown_task_name_raises_lookup_error(make_runner: MakeRunner) -> None:
    runner = make_runner(recording_task("t.echo", Recorder()))

    with pytest.raises(LookupError, match=r"t\.missing"):
        await runner.enqueue(Job("t.missing", job_id="nope"))
    await runner.drain(within=0.5)
    assert runner.results == {}


async def test_a_task_exception_is_stored_in_results_and_the_runner_keeps_running(
    make_runner: MakeRunner,
) -> None:
    recorder = Recorder()

    async def broken(ctx: dict[str, Any]) -> None:
        raise ValueError("boom")

    runner = make_runner(func(broken, name="t.broken"), recording_task("t.echo", recorder, "ok"))
    await runner.enqueue(Job("t.broken", job_id="bad"))
    await runner.drain()
    await runner.enqueue(Job("t.echo", job_id="good"))
    await runner.drain()

    assert isinstance(runner.results["bad"], ValueError)
    assert str(runner.results["bad"]) == "boom"
    assert runner.results["good"] == "ok"
    assert len(recorder.calls) == 1


async def test_a_task_exception_is_not_retried(make_runner: MakeRunner) -> None:
    tries: list[int] = []

    async def broken(ctx: dict[str, Any]) -> None:
        tries.append(ctx["job_try"])
        raise ValueError("boom")

    runner = make_runner(func(broken, name="t.broken", max_tries=5))
    await runner.enqueue(Job("t.broken", job_id="bad"))
    await runner.drain()

    assert tries == [1]


async def test_a_job_over_its_timeout_is_stopped_and_its_timeout_stored(
    make_runner: MakeRunner,
) -> None:
    cancelled = asyncio.Event()

    async def slow(ctx: dict[str, Any]) -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    runner = make_runner(func(slow, name="t.slow", timeout=0.1))
    await runner.enqueue(Job("t.slow", job_id="slow"))
    await runner.drain(within=2)

    assert cancelled.is_set()
    assert isinstance(runner.results["slow"], TimeoutError)


async def test_drain_waits_for_every_pending_one_off_job(make_runner: MakeRunner) -> None:
    recorder = Recorder()

    async def slow(ctx: dict[str, Any]) -> str:
        await asyncio.sleep(0.2)
        recorder.record(ctx, {})
        return "slow"

    runner = make_runner(func(slow, name="t.slow"), recording_task("t.echo", recorder))
    await runner.enqueue(Job("t.slow", job_id="s"))
    await runner.enqueue(Job("t.echo", job_id="d1", defer_seconds=0.1))
    await runner.enqueue(Job("t.echo", job_id="d2", defer_seconds=0.2))
    assert recorder.calls == []

    await runner.drain()

    assert sorted(call["ctx"]["job_id"] for call in recorder.calls) == ["d1", "d2", "s"]
    assert runner.results["s"] == "slow"


async def test_drain_raises_timeout_error_when_a_job_outlives_it(make_runner: MakeRunner) -> None:
    async def stuck(ctx: dict[str, Any]) -> None:
        await asyncio.Event().wait()

    runner = make_runner(func(stuck, name="t.stuck"))
    await runner.enqueue(Job("t.stuck"))

    with pytest.raises(TimeoutError):
        await runner.drain(within=0.2)


def every_second_soon(coroutine: Any, name: str) -> CronJob:
    """Every second, at a sub-second offset that makes the first run ~1.05 s after now.

    arq's next_cron never fires sooner than one second after the previous time.
    """
    microsecond = (datetime.now(UTC).microsecond + 50_000) % 1_000_000
    return cron(coroutine, name=name, second=set(range(60)), microsecond=microsecond)


async def test_a_cron_job_fires_after_start_with_the_ctx_and_its_name_as_job_id(
    make_runner: MakeRunner,
) -> None:
    recorder = Recorder()

    async def tick(ctx: dict[str, Any]) -> None:
        recorder.record(ctx, {})

    runner = make_runner(cron_jobs=[every_second_soon(tick, "cron:tick")], ctx={"runtime": "rt"})
    runner.start()
    async with asyncio.timeout(3):
        await recorder.wait_for_calls(1)

    assert recorder.calls[0]["ctx"] == {"runtime": "rt", "job_id": "cron:tick", "job_try": 1}


async def test_a_failing_cron_job_keeps_its_schedule(make_runner: MakeRunner) -> None:
    runs: list[float] = []
    loop = asyncio.get_running_loop()
    second_run = asyncio.Event()

    async def broken_tick(ctx: dict[str, Any]) -> None:
        runs.append(loop.time())
        if len(runs) >= 2:
            second_run.set()
        raise ValueError("boom")

    runner = make_runner(cron_jobs=[every_second_soon(broken_tick, "cron:broken")])
    runner.start()
    async with asyncio.timeout(4):
        await second_run.wait()

    assert 0.5 <= runs[1] - runs[0] <= 2.0


async def test_stop_cancels_running_jobs_deferred_jobs_and_cron_loops(
    make_runner: MakeRunner,
) -> None:
    cron_started = asyncio.Event()
    cancelled: list[str] = []
    deferred_ran: list[str] = []

    async def blocking_tick(ctx: dict[str, Any]) -> None:
        cron_started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append("cron")
            raise

    async def blocking_job(ctx: dict[str, Any]) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(ctx["job_id"])
            raise

    async def deferred(ctx: dict[str, Any]) -> None:
        deferred_ran.append(ctx["job_id"])

    runner = make_runner(
        func(blocking_job, name="t.block"),
        func(deferred, name="t.deferred"),
        cron_jobs=[every_second_soon(blocking_tick, "cron:block")],
    )
    runner.start()
    await runner.enqueue(Job("t.block", job_id="running"))
    await runner.enqueue(Job("t.deferred", job_id="later", defer_seconds=5))
    async with asyncio.timeout(3):
        await cron_started.wait()

    async with asyncio.timeout(1):
        await runner.stop()

    assert sorted(cancelled) == ["cron", "running"]
    await runner.drain(within=0.1)  # nothing pending any more
    assert deferred_ran == []


async def test_drain_ignores_cron_loops(make_runner: MakeRunner) -> None:
    async def tick(ctx: dict[str, Any]) -> None:
        return None

    runner = make_runner(cron_jobs=[every_second_soon(tick, "cron:idle")])
    runner.start()

    async with asyncio.timeout(0.5):
        await runner.drain(within=0.2)
