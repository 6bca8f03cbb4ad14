"""The embedded mode end to end, in-process: SQLite, the in-process job runner, in-memory sockets.

No MariaDB and no Redis here: the app gets a data folder of its own and nothing else.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import socketio
from sqlalchemy import func, select, text

from models.platform import IdempotencyKey, OutboxMessage
from server.app import create_app
from server.db import NestedWriter
from server.keys import JOB_RUNNER, RUNTIME, SOCKETS
from server.settings import Settings
from tests.helpers.env import migrated_embedded_settings

EVENT_TIMEOUT = 5


@pytest.fixture
async def embedded_settings(tmp_path: Path) -> Settings:
    settings = await migrated_embedded_settings(tmp_path)
    return settings


@pytest.fixture
async def embedded(aiohttp_client: Any, embedded_settings: Settings) -> Any:
    """A real server on a real port, running the embedded app."""
    return await aiohttp_client(create_app(embedded_settings))


@pytest.fixture
async def socket_clients() -> AsyncIterator[list[socketio.AsyncClient]]:
    clients: list[socketio.AsyncClient] = []
    yield clients
    for client in clients:
        if client.connected:
            await client.disconnect()


async def connect_socket(
    embedded: Any, clients: list[socketio.AsyncClient], *events: str
) -> tuple[socketio.AsyncClient, asyncio.Queue[tuple[str, Any]]]:
    """Connect a real Socket.IO client; everything it receives of `events` lands in a queue."""
    client = socketio.AsyncClient(reconnection=False)
    received: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    for name in events:

        async def on_event(data: Any, name: str = name) -> None:
            await received.put((name, data))

        client.on(name, on_event)
    clients.append(client)
    # Sockets authenticate with an access token: sign up a fresh account for each one.
    signed_up = await embedded.post(
        "/api/v1/auth/register",
        json={"email": f"socket{len(clients)}@example.com", "password": "correct horse battery"},
    )
    assert signed_up.status == 201
    token = (await signed_up.json())["access_token"]
    await embedded.app[JOB_RUNNER].drain()  # sign-up's own events go out before we connect
    url = str(embedded.make_url("/")).rstrip("/")
    await client.connect(
        url, auth={"token": token}, transports=["websocket"], wait_timeout=EVENT_TIMEOUT
    )
    return client, received


async def test_embedded_app_is_ready_without_redis(embedded) -> None:
    ready = await embedded.get("/readyz")
    assert ready.status == 200
    assert await ready.json() == {
        "status": "ok",
        "checks": {"database": "ok", "redis": "not_configured"},
    }
    meta = await (await embedded.get("/api/v1/meta")).json()
    assert meta["mode"] == "embedded"
    assert meta["environment"] == "development"


async def test_embedded_database_is_sqlite_in_the_data_folder(embedded, tmp_path: Path) -> None:
    runtime = embedded.app[RUNTIME]
    assert runtime.redis is None
    assert runtime.db.engine.dialect.name == "sqlite"
    database = Path(runtime.db.engine.url.database)
    assert database.parent == await asyncio.to_thread(tmp_path.resolve)


async def test_a_writer_that_cannot_get_the_lock_in_time_is_answered_503(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    settings = (await migrated_embedded_settings(tmp_path)).model_copy(
        update={"database_lock_timeout_seconds": 0.3}
    )
    embedded = await aiohttp_client(create_app(settings))
    runtime = embedded.app[RUNTIME]
    body = {"email": "late@example.com", "password": "correct horse battery"}
    async with runtime.db.engine.begin() as holder:  # a long write transaction holds the lock
        await holder.execute(text("SELECT 1"))
        started = time.monotonic()
        answer = await embedded.get("/readyz")
        assert answer.status == 200, "a read waits for no writer"
        answer = await embedded.post("/api/v1/auth/register", json=body)
        waited = time.monotonic() - started
    assert answer.status == 503
    assert (await answer.json())["error"]["code"] == "service.unavailable"
    assert 0.3 <= waited < 5
    # The lock free again, the same request goes through.
    answer = await embedded.post("/api/v1/auth/register", json=body)
    assert answer.status == 201


async def test_a_unit_of_work_opened_inside_another_fails_at_once_and_reads_still_work(
    embedded,
) -> None:
    db = embedded.app[RUNTIME].db
    started = time.monotonic()
    async with db.unit_of_work() as outer:
        outer.session.add(idempotency_key("outer", datetime.now(UTC) + timedelta(hours=1)))
        await outer.session.flush()
        async with db.read() as session:  # a reader takes no lock: it sees the last commit
            assert (await session.scalars(select(IdempotencyKey.key))).all() == []
        with pytest.raises(NestedWriter):
            async with db.unit_of_work() as inner:
                await inner.session.execute(select(IdempotencyKey.id))
    assert time.monotonic() - started < 5, "no wait for the lock its own task holds"
    assert await stored_keys(embedded.app[RUNTIME]) == {"outer"}
    async with db.unit_of_work() as after:  # the task may write again once the first is done
        await after.session.execute(select(IdempotencyKey.id))


async def outbox_size(runtime: Any) -> int:
    async with runtime.db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(OutboxMessage)) or 0)


async def stored_keys(runtime: Any) -> set[str]:
    async with runtime.db.read() as session:
        return set((await session.scalars(select(IdempotencyKey.key))).all())


def idempotency_key(key: str, expires_at: datetime) -> IdempotencyKey:
    return IdempotencyKey(
        scope="1:POST /api/v1/probe/echo",
        key=key,
        request_hash="0" * 64,
        status_code=201,
        response_body=b"{}",
        content_type="application/json",
        user_id=1,
        created_at=expires_at - timedelta(hours=24),
        expires_at=expires_at,
    )


async def test_a_job_enqueued_in_a_unit_of_work_runs_in_process_after_commit(embedded) -> None:
    runtime = embedded.app[RUNTIME]
    runner = embedded.app[JOB_RUNNER]
    now = datetime.now(UTC)
    async with runtime.db.unit_of_work() as uow:
        uow.session.add(idempotency_key("expired", now - timedelta(minutes=1)))
        uow.session.add(idempotency_key("current", now + timedelta(hours=1)))
        uow.outbox.enqueue("platform.purge_idempotency_keys")
        await uow.session.flush()
        assert await outbox_size(runtime) == 0, "outbox rows are invisible before commit"

    await runner.drain()

    assert await stored_keys(runtime) == {"current"}
    assert await outbox_size(runtime) == 0, "a relayed row is deleted"
    results = [value for key, value in runner.results.items() if key.startswith("outbox:")]
    assert results == [1], "the purge ran once and removed exactly the expired key"


async def test_a_rolled_back_unit_of_work_runs_no_job(embedded) -> None:
    runtime = embedded.app[RUNTIME]
    runner = embedded.app[JOB_RUNNER]
    now = datetime.now(UTC)
    async with runtime.db.unit_of_work() as uow:
        uow.session.add(idempotency_key("expired", now - timedelta(minutes=1)))
    before = dict(runner.results)

    with pytest.raises(RuntimeError):
        async with runtime.db.unit_of_work() as uow:
            uow.outbox.enqueue("platform.purge_idempotency_keys")
            await uow.session.flush()
            raise RuntimeError("the change fails")
    await runner.drain()

    assert runner.results == before
    assert await stored_keys(runtime) == {"expired"}
    assert await outbox_size(runtime) == 0


async def test_an_event_published_through_the_outbox_reaches_the_users_socket(
    embedded, socket_clients
) -> None:
    runtime = embedded.app[RUNTIME]
    sockets = embedded.app[SOCKETS]
    ann, ann_events = await connect_socket(embedded, socket_clients, "notification.created")
    bob, bob_events = await connect_socket(embedded, socket_clients, "notification.created")
    await sockets.enter_room(ann.get_sid(), "user:7")
    await sockets.enter_room(bob.get_sid(), "user:8")

    async with runtime.db.unit_of_work() as uow:
        uow.outbox.publish(
            "notification.created", {"notification_id": 1, "text": "你好"}, user_id=7
        )
        uow.outbox.publish("notification.created", {"notification_id": 2}, user_id=8)

    name, payload = await asyncio.wait_for(ann_events.get(), EVENT_TIMEOUT)
    assert name == "notification.created"
    assert set(payload) == {"event_id", "type", "ts", "data"}
    # A user event carries an id clients de-duplicate and recover by (room events carry null).
    assert isinstance(payload["event_id"], str) and payload["event_id"]
    assert payload["type"] == "notification.created"
    assert payload["data"] == {"notification_id": 1, "text": "你好"}
    assert payload["ts"].endswith("Z")
    sent_at = datetime.fromisoformat(payload["ts"])
    assert abs(datetime.now(UTC) - sent_at) < timedelta(seconds=EVENT_TIMEOUT + 5)

    # Bob's room got only Bob's event: the one to user 7 was emitted first and never reached him.
    _, bob_payload = await asyncio.wait_for(bob_events.get(), EVENT_TIMEOUT)
    assert bob_payload["data"] == {"notification_id": 2}
    assert isinstance(bob_payload["event_id"], str)
    assert bob_payload["event_id"] != payload["event_id"]
    assert bob_events.empty() and ann_events.empty()
    assert await outbox_size(runtime) == 0


async def test_a_room_event_reaches_only_the_sockets_in_that_room(embedded, socket_clients) -> None:
    runtime = embedded.app[RUNTIME]
    sockets = embedded.app[SOCKETS]
    watcher, watcher_events = await connect_socket(embedded, socket_clients, "content.counters")
    other, other_events = await connect_socket(embedded, socket_clients, "content.counters")
    await sockets.enter_room(watcher.get_sid(), "content:5")
    await sockets.enter_room(other.get_sid(), "content:6")

    async with runtime.db.unit_of_work() as uow:
        uow.outbox.publish("content.counters", {"likes": 3}, room="content:5")
        uow.outbox.publish("content.counters", {"likes": 9}, room="content:6")

    _, payload = await asyncio.wait_for(watcher_events.get(), EVENT_TIMEOUT)
    assert set(payload) == {"event_id", "type", "ts", "data"}
    assert payload["ts"].endswith("Z")
    assert payload["type"] == "content.counters"
    assert payload["data"] == {"likes": 3}
    assert payload["event_id"] is None
    _, other_payload = await asyncio.wait_for(other_events.get(), EVENT_TIMEOUT)
    assert other_payload["data"] == {"likes": 9}
    assert watcher_events.empty() and other_events.empty()
