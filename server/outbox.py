"""The transactional outbox: jobs and events leave a service only through here.

Rows are written in the caller's transaction. After commit the unit of work hands them (ids and
contents, as written) to the relay, which sends them without reading them back and deletes them
(fast path); a periodic sweep re-sends rows still there after a few seconds (slow path).
Consumers are idempotent: a job's id is derived from its row, an event carries its row id for
de-duplication, so sending twice is harmless. A rollback drops the rows.

A row is deleted once sent, except a job enqueued with `keep=True`: work no other row records
(an avatar upload). Its row stays, due again after `keep_for`, and is sent again until the task
calls `acknowledge(session, outbox_id)` (its `outbox_id` argument) where it completes the work;
a job still queued or running is not queued twice, so only a lost or abandoned one runs again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, Protocol, runtime_checkable

import orjson
import structlog
from redis.exceptions import RedisError
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models.platform import OutboxMessage

log = structlog.get_logger(__name__)

# After this many failed sends a row is left for an operator instead of being retried forever.
MAX_ATTEMPTS = 25
# Errors that mean the job queue or event bus is unreachable, not that one row is bad.
UNREACHABLE: tuple[type[BaseException], ...] = (RedisError, OSError, ConnectionError)


# The queue of slow media work (uploads, avatars), served by its own workers.
MEDIA_QUEUE = "media"
# The queue of AI tutor runs: long-lived streams, served by their own workers.
TUTOR_QUEUE = "tutor"


@dataclass(frozen=True, slots=True)
class Event:
    """A realtime event: to users' rooms (recoverable) or to a named room (ephemeral)."""

    type: str
    data: dict[str, Any]
    user_ids: tuple[int, ...] = ()
    room: str | None = None
    dedupe_id: str | None = None


@dataclass(frozen=True, slots=True)
class Job:
    """A task to run in a worker, by name, with JSON arguments."""

    task: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    job_id: str | None = None
    defer_seconds: float | None = None
    queue: str | None = None


class EventSink(Protocol):
    async def send(self, event: Event) -> None: ...


@runtime_checkable
class BatchEventSink(EventSink, Protocol):
    """A sink that can send many events in one round trip."""

    async def send_many(self, events: Sequence[Event]) -> None: ...


async def send_all(sink: EventSink, events: Sequence[Event]) -> None:
    """Send `events` in order: in one batch when the sink can, else one by one."""
    if isinstance(sink, BatchEventSink):
        await sink.send_many(events)
        return
    for event in events:
        await sink.send(event)


class JobSink(Protocol):
    async def enqueue(self, job: Job) -> None: ...


class Written(NamedTuple):
    """A committed outbox row as its transaction wrote it."""

    id: int
    kind: str
    name: str
    payload: dict[str, Any]


class Outbox:
    """Bound to one session: `enqueue` a job, `publish` an event, in the same transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._pending: list[OutboxMessage] = []

    def enqueue(
        self,
        task: str,
        *,
        job_id: str | None = None,
        defer_seconds: float | None = None,
        queue: str | None = None,
        keep: bool = False,
        **kwargs: Any,
    ) -> None:
        """Run `task(**kwargs)` in a worker once this transaction commits; with `keep`, until
        the task acknowledges it (it is called with `outbox_id` too)."""
        payload = {"kwargs": kwargs, "job_id": job_id, "defer": defer_seconds, "queue": queue}
        if keep:
            payload["keep"] = True
        self._add("job", task, payload)

    def publish(
        self,
        event_type: str,
        data: dict[str, Any],
        *,
        user_id: int | None = None,
        user_ids: list[int] | None = None,
        room: str | None = None,
    ) -> None:
        """Push `event_type` to users' rooms or to one room once this transaction commits."""
        users = [*(user_ids or []), *([user_id] if user_id is not None else [])]
        if not users and room is None:
            raise ValueError("an event needs a user or a room")
        self._add("event", event_type, {"data": data, "user_ids": users, "room": room})

    def _add(self, kind: str, name: str, payload: dict[str, Any]) -> None:
        row = OutboxMessage(kind=kind, name=name, payload=payload, created_at=datetime.now(UTC))
        self._session.add(row)
        self._pending.append(row)

    @property
    def written(self) -> list[Written]:
        """The rows this transaction wrote, their payloads as the database keeps them (JSON)."""
        return [
            Written(row.id, row.kind, row.name, orjson.loads(orjson.dumps(row.payload)))
            for row in self._pending
            if row.id is not None
        ]


async def acknowledge(session: AsyncSession, outbox_id: int) -> None:
    """The work of a kept job is done: its row goes, in the caller's transaction."""
    await session.execute(delete(OutboxMessage).where(OutboxMessage.id == outbox_id))


def kept(kind: str, payload: dict[str, Any]) -> bool:
    return kind == "job" and bool(payload.get("keep"))


def to_message(row_id: int, kind: str, name: str, payload: dict[str, Any]) -> Event | Job:
    """Turn a stored row into what a sink sends; ids derive from the row for de-duplication."""
    if kind == "job":
        defer = payload.get("defer")
        kwargs = payload.get("kwargs") or {}
        return Job(
            task=name,
            kwargs={**kwargs, "outbox_id": row_id} if kept(kind, payload) else kwargs,
            job_id=payload.get("job_id") or f"outbox:{row_id}",
            defer_seconds=float(defer) if defer else None,
            queue=payload.get("queue"),
        )
    return Event(
        type=name,
        data=payload.get("data") or {},
        user_ids=tuple(payload.get("user_ids") or ()),
        room=payload.get("room"),
        dedupe_id=f"outbox:{row_id}",
    )


class OutboxRelay:
    """Sends committed outbox rows to the job queue and the event bus, then deletes them (a
    kept job's row is due again after `keep_for` instead)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        jobs: JobSink,
        events: EventSink,
        *,
        sweep_after: timedelta = timedelta(seconds=5),
        batch_size: int = 200,
        keep_for: timedelta = timedelta(minutes=10),
    ) -> None:
        self._sessions = sessions
        self._jobs = jobs
        self._events = events
        self._sweep_after = sweep_after
        self._batch_size = batch_size
        self._keep_for = keep_for

    async def deliver(self, rows: list[Written]) -> int:
        """Fast path right after commit: send the rows just committed (not read back: the sweep
        takes only rows older than `sweep_after`, so nothing else sends them now), then delete
        them. Failures are left to the sweep, never raised."""
        try:
            async with self._sessions() as session:
                sent, _ = await self._send_rows(session, rows)
            return sent
        except Exception as exc:  # the commit stands; the sweep will retry
            log.warning("outbox.fast_path_failed", error=repr(exc), rows=len(rows))
            return 0

    async def sweep(self) -> int:
        """Slow path: re-send rows older than `sweep_after` that are still unsent."""
        cutoff = datetime.now(UTC) - self._sweep_after
        total = 0
        while True:
            sent, seen = await self._relay(
                (OutboxMessage.created_at <= cutoff) & (OutboxMessage.attempts < MAX_ATTEMPTS)
            )
            total += sent
            if sent == 0 or seen < self._batch_size:
                return total

    async def _relay(self, condition: Any) -> tuple[int, int]:
        """Send matching rows oldest-first, rows that failed before last; (sent, seen)."""
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(
                        OutboxMessage.id,
                        OutboxMessage.kind,
                        OutboxMessage.name,
                        OutboxMessage.payload,
                    )
                    .where(condition)
                    .order_by(OutboxMessage.attempts, OutboxMessage.id)
                    .limit(self._batch_size)
                )
            ).all()
            return await self._send_rows(session, [Written(*row) for row in rows])

    async def _send_rows(self, session: AsyncSession, rows: list[Written]) -> tuple[int, int]:
        """Send `rows` in order, then delete (or keep, or count a failure of) each; (sent,
        seen)."""
        sent: list[int] = []
        try:
            for row in rows:
                try:
                    await self._send(to_message(row.id, row.kind, row.name, row.payload))
                except UNREACHABLE:
                    raise  # the queue or bus is down: the rest would fail the same way
                except Exception as exc:  # this row alone is bad; keep it, move on
                    log.error("outbox.row_failed", row_id=row.id, name=row.name, error=repr(exc))
                    continue
                sent.append(row.id)
        finally:
            keep = {r.id for r in rows if kept(r.kind, r.payload)}
            await self._finish(session, [r.id for r in rows], sent, keep)
        return len(sent), len(rows)

    async def _send(self, message: Event | Job) -> None:
        if isinstance(message, Job):
            await self._jobs.enqueue(message)
        else:
            await self._events.send(message)

    async def _finish(
        self, session: AsyncSession, seen: list[int], sent: list[int], keep: set[int]
    ) -> None:
        done = [i for i in sent if i not in keep]
        if done:
            await session.execute(delete(OutboxMessage).where(OutboxMessage.id.in_(done)))
        again = [i for i in sent if i in keep]
        if again:  # the sweep sends it again once this is past, unless acknowledged by then
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(again))
                .values(created_at=datetime.now(UTC) + self._keep_for)
            )
        failed = [i for i in seen if i not in set(sent)]
        if failed:
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(failed))
                .values(attempts=OutboxMessage.attempts + 1)
            )
        await session.commit()
