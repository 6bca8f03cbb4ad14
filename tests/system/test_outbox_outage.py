"""The transactional outbox and the web process under faults, with real processes.

QUALITY.md 5-8 in spirit: a Redis outage right after commit loses no job and no event, a
rollback sends nothing, a worker killed mid-sweep loses nothing, and the web process answers
fast 503s while MariaDB or Redis is away and recovers when they return.

Events are checked where they leave the backend: on python-socketio's Redis channel
`<prefix>:socketio`. A real Socket.IO client in room user:42 would be the end-to-end check, but
the connect handler (auth, joining the user's room) is not built yet, so a client cannot join a
user room; the pub/sub message is what every web instance would deliver to that room.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
import socketio
from arq.jobs import Job as ArqJob
from redis.asyncio import Redis
from sqlalchemy import func, select

from jobs.sinks import ArqJobSink, queue_names
from models.platform import IdempotencyKey, OutboxMessage
from realtime.events import SocketEventSink
from realtime.server import client_manager
from server.outbox import OutboxRelay, Written
from server.runtime import Runtime, open_redis
from server.settings import Settings
from tests.conftest import RUN_PREFIX, make_settings
from tests.system.conftest import MakeProxy, Record, StartWeb, StartWorker
from tests.system.harness import FaultProxy, eventually

PURGE = "platform.purge_idempotency_keys"
SWEEP = "platform.sweep_outbox"
QUEUE = f"{RUN_PREFIX}:queue"


# --- helpers --------------------------------------------------------------------------------------


@dataclass
class Producer:
    """A Runtime in the test process wired exactly as jobs/worker.py wires the worker's."""

    runtime: Runtime
    emitter: socketio.AsyncRedisManager
    settings: Settings

    @property
    def relay(self) -> OutboxRelay:
        assert self.runtime.relay is not None
        return self.runtime.relay

    def cut_right_after_commit(self, proxy: FaultProxy) -> None:
        """The next commits: cut Redis between the commit and the outbox's fast path."""
        deliver = self.relay.deliver

        async def cut_then_deliver(rows: list[Written]) -> object:
            proxy.cut()
            return await deliver(rows)

        self.runtime.db.after_commit = cut_then_deliver


ProducerFactory = Callable[..., Awaitable[Producer]]


@pytest.fixture
async def producer(
    database_url: str, system_settings: dict[str, Any]
) -> AsyncIterator[ProducerFactory]:
    """`await producer(redis_url)`: a Producer; `system_settings` puts the test under clean-up."""
    opened: list[Producer] = []

    async def open_producer(redis_url: str) -> Producer:
        settings = make_settings(database_url=database_url, redis_url=redis_url)
        runtime = await Runtime.open(settings)
        assert runtime.redis is not None
        emitter = client_manager(settings, write_only=True)
        assert isinstance(emitter, socketio.AsyncRedisManager)
        runtime.attach(jobs=ArqJobSink(runtime.redis, settings), events=SocketEventSink(emitter))
        made = Producer(runtime, emitter, settings)
        opened.append(made)
        return made

    yield open_producer
    for made in opened:
        await made.runtime.close()
        if made.emitter.redis is not None:
            await made.emitter.redis.aclose()


def idempotency_key(key: str, *, expires_in: timedelta, now: Any) -> IdempotencyKey:
    return IdempotencyKey(
        scope="42:POST /api/v1/orders",
        key=key,
        request_hash="0" * 64,
        user_id=42,
        created_at=now - timedelta(days=1),
        expires_at=now + expires_in,
    )


async def outbox_rows(runtime: Runtime) -> list[tuple[str, str, int]]:
    async with runtime.db.sessions() as session:
        rows = await session.execute(
            select(OutboxMessage.kind, OutboxMessage.name, OutboxMessage.attempts).order_by(
                OutboxMessage.id
            )
        )
        return [tuple(row) for row in rows.all()]  # type: ignore[misc]


async def outbox_count(runtime: Runtime) -> int:
    async with runtime.db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(OutboxMessage)) or 0)


async def _empty(runtime: Runtime) -> bool:
    return await outbox_count(runtime) == 0


async def idempotency_keys(runtime: Runtime) -> list[str]:
    async with runtime.db.sessions() as session:
        return sorted((await session.scalars(select(IdempotencyKey.key))).all())


async def get(http: aiohttp.ClientSession, url: str) -> tuple[int, Any, float]:
    """(status, JSON body or None, seconds taken)."""
    started = time.monotonic()
    async with http.get(url) as response:
        body = await response.json() if response.content_type == "application/json" else None
        return response.status, body, time.monotonic() - started


# --- the outbox across a Redis outage ---------------------------------------------------------


async def test_a_job_and_an_event_survive_a_redis_outage_that_starts_right_after_commit(
    producer: ProducerFactory,
    fault_proxy: MakeProxy,
    redis_url: str,
    start_worker: StartWorker,
    socketio_channel: Record,
    check_redis: Redis,
) -> None:
    proxy = await fault_proxy(redis_url)
    made = await producer(proxy.url(redis_url))
    runtime = made.runtime
    now = runtime.clock.now()
    async with runtime.db.unit_of_work() as uow:
        uow.session.add(idempotency_key("expired", expires_in=-timedelta(minutes=1), now=now))
        uow.session.add(idempotency_key("fresh", expires_in=timedelta(hours=1), now=now))
    channel = await socketio_channel()
    probe = secrets.token_hex(4)

    made.cut_right_after_commit(proxy)
    async with runtime.db.unit_of_work() as uow:  # returns normally: the commit stands
        uow.outbox.enqueue(PURGE)
        uow.outbox.publish("probe.event", {"probe": probe}, user_id=42)
    job_row, _event_row = [row.id for row in uow.outbox.written]

    # The fast path failed quietly: both rows wait in the table, marked as tried once, and
    # nothing reached the real Redis.
    assert proxy.is_cut
    assert await outbox_rows(runtime) == [("job", PURGE, 1), ("event", "probe.event", 1)]
    assert await check_redis.zscore(QUEUE, f"{RUN_PREFIX}:outbox:{job_row}") is None
    assert await idempotency_keys(runtime) == ["expired", "fresh"]

    # A real worker on the real Redis sweeps them on its 5-second cron.
    started = time.monotonic()
    await start_worker()
    await channel.wait_for(lambda _: bool(channel.emits("probe.event", room="user:42")), within=15)

    async def drained_and_purged() -> bool:
        return await outbox_count(runtime) == 0 and await idempotency_keys(runtime) == ["fresh"]

    await eventually(drained_and_purged, within=10, what="the outbox drained and the job ran")
    took = time.monotonic() - started

    [message] = channel.emits("probe.event", room="user:42")
    assert message["namespace"] == "/"
    [payload] = message["data"]
    assert payload["type"] == "probe.event"
    assert payload["data"] == {"probe": probe}
    result = await ArqJob(f"{RUN_PREFIX}:outbox:{job_row}", check_redis).result_info()
    assert result is not None and result.success and result.result == 1
    assert took < 15, f"swept in {took:.1f} s"


async def test_an_event_alone_survives_a_redis_outage_that_starts_right_after_commit(
    producer: ProducerFactory,
    fault_proxy: MakeProxy,
    redis_url: str,
    start_worker: StartWorker,
    socketio_channel: Record,
) -> None:
    # Without a job row ahead of it (a job's enqueue does raise and stops the batch), the event
    # is the first thing the fast path sends while Redis is away.
    proxy = await fault_proxy(redis_url)
    made = await producer(proxy.url(redis_url))
    channel = await socketio_channel()
    made.cut_right_after_commit(proxy)
    async with made.runtime.db.unit_of_work() as uow:
        uow.outbox.publish("probe.alone", {"n": 1}, user_id=42)

    assert await outbox_rows(made.runtime) == [("event", "probe.alone", 1)]

    await start_worker()
    await channel.wait_for(lambda _: bool(channel.emits("probe.alone", room="user:42")), 15)
    await eventually(lambda: _empty(made.runtime), 10, what="drained")


async def test_a_relayed_event_carries_its_outbox_id_for_de_duplication(
    producer: ProducerFactory, redis_url: str, socketio_channel: Record
) -> None:
    made = await producer(redis_url)
    channel = await socketio_channel()
    async with made.runtime.db.unit_of_work() as uow:
        uow.outbox.publish("probe.id", {}, user_id=42)
    [row] = [row.id for row in uow.outbox.written]

    await channel.wait_for(lambda _: bool(channel.emits("probe.id")), within=5)
    [message] = channel.emits("probe.id")
    assert message["data"][0]["event_id"] == f"outbox:{row}"


async def test_nothing_is_sent_for_a_rolled_back_transaction(
    producer: ProducerFactory, redis_url: str, socketio_channel: Record, check_redis: Redis
) -> None:
    made = await producer(redis_url)
    runtime = made.runtime
    channel = await socketio_channel()
    written: list[int] = []

    with pytest.raises(RuntimeError, match="the service failed"):
        async with runtime.db.unit_of_work() as uow:
            uow.session.add(
                idempotency_key(
                    "expired", expires_in=-timedelta(minutes=1), now=runtime.clock.now()
                )
            )
            uow.outbox.enqueue(PURGE)
            uow.outbox.publish("probe.rolled_back", {"n": 1}, user_id=42)
            await uow.session.flush()  # the rows existed inside the transaction
            assert len(uow.outbox.written) == 2
            written = [row.id for row in uow.outbox.written]
            raise RuntimeError("the service failed")

    assert await outbox_count(runtime) == 0
    assert await idempotency_keys(runtime) == []
    # Even a sweep once the rows would be old enough finds nothing to send.
    await asyncio.sleep(made.settings.outbox_sweep_after_seconds + 0.1)
    assert await made.relay.sweep() == 0
    await asyncio.sleep(0.3)
    # Other tests of this run may share the queue: look for this transaction's job ids only.
    job_ids = [f"{RUN_PREFIX}:outbox:{row}" for row in written]
    queued = {member.decode() for member in await check_redis.zrange(QUEUE, 0, -1)}
    assert not queued & set(job_ids), "no job was enqueued"
    assert await check_redis.exists(*(f"arq:job:{job_id}" for job_id in job_ids)) == 0
    assert channel.messages == []


async def test_a_worker_killed_mid_sweep_leaves_nothing_lost(
    producer: ProducerFactory,
    fault_proxy: MakeProxy,
    redis_url: str,
    start_worker: StartWorker,
    socketio_channel: Record,
) -> None:
    rows = 60
    made = await producer(redis_url)
    runtime = made.runtime
    async with runtime.db.sessions() as session:
        old = runtime.clock.now() - timedelta(minutes=1)
        session.add_all(
            OutboxMessage(
                kind="event",
                name="probe.swept",
                payload={"data": {"seq": n}, "user_ids": [42], "room": None},
                created_at=old,
            )
            for n in range(rows)
        )
        await session.commit()
    channel = await socketio_channel()

    def seen() -> list[int]:
        return [m["data"][0]["data"]["seq"] for m in channel.emits("probe.swept")]

    # Worker 1 reaches Redis through a proxy adding 50 ms each way: each publish takes ~0.1 s,
    # so a sweep of 60 rows takes ~6 s and is killed in its first second.
    proxy = await fault_proxy(redis_url)
    proxy.slow(0.05)
    first = await start_worker(redis_url=proxy.url(redis_url))
    enqueue = open_redis(redis_url)
    try:
        await enqueue.enqueue_job(SWEEP, _queue_name=QUEUE)
        await channel.wait_for(lambda _: len(seen()) >= 5, within=15)
        await first.kill()
        before_kill = len(seen())
        assert before_kill < rows, "the sweep finished before the kill"
        # The batch is deleted in one commit after it is sent: every row is still there.
        assert await outbox_count(runtime) == rows

        await start_worker()
        await enqueue.enqueue_job(SWEEP, _queue_name=QUEUE)
        await channel.wait_for(lambda _: set(seen()) == set(range(rows)), within=15)
        await eventually(lambda: _empty(runtime), 10, what="drained")
    finally:
        await enqueue.aclose()

    # At least once: the rows sent before the kill were sent again, none went missing; a user
    # event sent again keeps its stream entry and is not published again (realtime/streams.py).
    assert sorted(seen()) == list(range(rows))


# --- the web process without its database or Redis --------------------------------------------


async def test_database_outage_the_web_process_answers_fast_503s_and_recovers(
    database_url: str, fault_proxy: MakeProxy, start_web: StartWeb
) -> None:
    proxy = await fault_proxy(database_url)
    web = await start_web(database_url=proxy.url(database_url))
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
        status, body, _ = await get(http, f"{web.url}/readyz")
        assert (status, body["checks"]) == (200, {"database": "ok", "redis": "ok"})

        proxy.cut()
        status, body, took = await get(http, f"{web.url}/readyz")
        assert (status, body["status"]) == (503, "unavailable"), body
        assert body["checks"] == {"database": "unavailable", "redis": "ok"}
        assert took < 3, f"503 after {took:.2f} s"
        for path in ("/healthz", "/api/v1/meta"):
            status, _, took = await get(http, f"{web.url}{path}")
            assert status == 200, path
            assert took < 3, path

        proxy.restore()
        await eventually(lambda: _status_is(http, f"{web.url}/readyz", 200), 10, what="ready again")

        # Slow rather than gone: readiness gives up after its check timeout (2 s).
        proxy.slow(5.0)
        status, body, took = await get(http, f"{web.url}/readyz")
        assert status == 503 and body["checks"]["database"] == "unavailable", body
        assert took < 4.5, f"503 after {took:.2f} s"

        proxy.restore()
        await eventually(
            lambda: _status_is(http, f"{web.url}/readyz", 200), 15, what="ready after slowness"
        )
    assert web.running


async def test_redis_outage_the_web_process_keeps_serving_what_does_not_need_redis(
    redis_url: str, fault_proxy: MakeProxy, start_web: StartWeb
) -> None:
    proxy = await fault_proxy(redis_url)
    web = await start_web(redis_url=proxy.url(redis_url))
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
        status, _, _ = await get(http, f"{web.url}/readyz")
        assert status == 200

        proxy.cut()
        # Rate limits fail open (server/http/ratelimit.py): the API keeps answering.
        for _ in range(20):
            status, body, took = await get(http, f"{web.url}/api/v1/meta")
            assert status == 200 and body["name"] == "ShareStack"
            assert took < 2, f"meta took {took:.2f} s"
        status, body, took = await get(http, f"{web.url}/readyz")
        assert status == 503, body
        assert body["checks"] == {"database": "ok", "redis": "unavailable"}
        assert took < 3, f"503 after {took:.2f} s"

        proxy.restore()
        await eventually(lambda: _status_is(http, f"{web.url}/readyz", 200), 10, what="ready again")
        status, _, _ = await get(http, f"{web.url}/api/v1/meta")
        assert status == 200
    assert web.running


async def _status_is(http: aiohttp.ClientSession, url: str, expected: int) -> bool:
    status, _, _ = await get(http, url)
    return status == expected


def test_queue_name_matches_the_worker_settings() -> None:
    # The tests above read the queue zset directly; keep that name honest.
    assert queue_names(make_settings())[None] == QUEUE
