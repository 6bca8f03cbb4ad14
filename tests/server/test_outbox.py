"""The unit of work and the transactional outbox: sent after commit, dropped on rollback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import event, select

from models.platform import OutboxMessage
from server.outbox import MAX_ATTEMPTS, Event, Job
from server.runtime import Runtime


class Recorder:
    """Stands in for the queue and the bus: records what the relay sends, or fails on demand."""

    def __init__(self) -> None:
        self.jobs: list[Job] = []
        self.events: list[Event] = []
        self.down = False
        self.poison: set[str] = set()

    async def enqueue(self, job: Job) -> None:
        self._check(job.task)
        self.jobs.append(job)

    async def send(self, event: Event) -> None:
        self._check(event.type)
        self.events.append(event)

    def _check(self, name: str) -> None:
        if self.down:
            raise RedisConnectionError("down")
        if name in self.poison:
            raise ValueError(f"cannot send {name}")


@pytest.fixture
async def runtime(settings) -> AsyncIterator[tuple[Runtime, Recorder]]:
    runtime = await Runtime.open(settings)
    recorder = Recorder()
    runtime.attach(jobs=recorder, events=recorder)
    yield runtime, recorder
    await runtime.close()


async def rows(runtime: Runtime) -> list[OutboxMessage]:
    async with runtime.db.sessions() as session:
        return list((await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all())


async def test_commit_relays_jobs_and_events_at_once(runtime) -> None:
    rt, recorder = runtime
    async with rt.db.unit_of_work() as uow:
        uow.outbox.enqueue("media.thumbnail", media_id=7, defer_seconds=3, queue="media")
        uow.outbox.publish("order.updated", {"id": 1}, user_id=5)
        uow.outbox.publish("content.counters", {"likes": 2}, room="content:9")
    [job] = recorder.jobs
    assert job.task == "media.thumbnail" and job.kwargs == {"media_id": 7}
    assert job.defer_seconds == 3 and job.queue == "media"
    assert job.job_id is not None and job.job_id.startswith("outbox:")
    user_event, room_event = recorder.events
    assert user_event.user_ids == (5,) and user_event.data == {"id": 1}
    assert room_event.room == "content:9" and room_event.user_ids == ()
    assert await rows(rt) == []


async def test_the_fast_path_sends_what_was_written_without_reading_it_back(runtime) -> None:
    rt, recorder = runtime
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement.split()[0].upper())

    event.listen(rt.db.engine.sync_engine, "before_cursor_execute", seen)
    try:
        async with rt.db.unit_of_work() as uow:
            # As the database keeps it: JSON, so a tuple comes out a list.
            uow.outbox.publish("order.updated", {"id": 1, "lines": (3, 4)}, user_id=5)
    finally:
        event.remove(rt.db.engine.sync_engine, "before_cursor_execute", seen)
    [sent] = recorder.events
    assert sent.data == {"id": 1, "lines": [3, 4]}
    assert "SELECT" not in statements  # written, committed, sent, deleted
    assert statements.count("DELETE") == 1
    assert await rows(rt) == []


async def test_rollback_drops_everything(runtime) -> None:
    rt, recorder = runtime
    with pytest.raises(RuntimeError):
        async with rt.db.unit_of_work() as uow:
            uow.outbox.enqueue("media.thumbnail", media_id=7)
            uow.outbox.publish("order.updated", {"id": 1}, user_id=5)
            await uow.session.flush()
            raise RuntimeError("the service failed")
    assert recorder.jobs == [] and recorder.events == []
    assert await rows(rt) == []
    assert await rt.relay.sweep() == 0  # type: ignore[union-attr]


async def test_a_failed_fast_path_keeps_the_commit_and_the_rows(runtime, settings) -> None:
    rt, recorder = runtime
    recorder.down = True
    async with rt.db.unit_of_work() as uow:
        uow.outbox.publish("order.updated", {"id": 1}, user_id=5)
    [row] = await rows(rt)
    assert row.attempts == 1
    recorder.down = False
    await asyncio.sleep(settings.outbox_sweep_after_seconds + 0.1)
    assert await rt.relay.sweep() == 1  # type: ignore[union-attr]
    assert [e.type for e in recorder.events] == ["order.updated"]
    assert await rows(rt) == []


async def test_the_sweep_leaves_fresh_rows_to_the_fast_path(runtime, settings) -> None:
    rt, recorder = runtime
    async with rt.db.sessions() as session:
        session.add_all(
            [
                OutboxMessage(
                    kind="event",
                    name="old",
                    payload={"data": {}, "user_ids": [1]},
                    created_at=datetime.now(UTC) - timedelta(minutes=1),
                ),
                OutboxMessage(
                    kind="event",
                    name="fresh",
                    payload={"data": {}, "user_ids": [1]},
                    created_at=datetime.now(UTC) + timedelta(minutes=1),
                ),
            ]
        )
        await session.commit()
    assert await rt.relay.sweep() == 1  # type: ignore[union-attr]
    assert [e.type for e in recorder.events] == ["old"]
    assert [r.name for r in await rows(rt)] == ["fresh"]


async def test_a_bad_row_does_not_block_the_others_and_is_retired(runtime) -> None:
    rt, recorder = runtime
    recorder.poison = {"bad"}
    past = datetime.now(UTC) - timedelta(minutes=1)
    async with rt.db.sessions() as session:
        for name in ("bad", "good"):
            session.add(
                OutboxMessage(kind="job", name=name, payload={"kwargs": {}}, created_at=past)
            )
        await session.commit()
    assert await rt.relay.sweep() == 1  # type: ignore[union-attr]
    assert [j.task for j in recorder.jobs] == ["good"]
    [bad] = await rows(rt)
    assert bad.name == "bad" and bad.attempts == 1
    async with rt.db.sessions() as session:
        (await session.get(OutboxMessage, bad.id)).attempts = MAX_ATTEMPTS  # type: ignore[union-attr]
        await session.commit()
    recorder.poison = set()
    assert await rt.relay.sweep() == 0  # type: ignore[union-attr]  # left for an operator


async def test_an_event_needs_a_recipient(runtime) -> None:
    rt, _ = runtime
    with pytest.raises(ValueError, match="user or a room"):
        async with rt.db.unit_of_work() as uow:
            uow.outbox.publish("order.updated", {"id": 1})
