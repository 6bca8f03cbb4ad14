"""Realtime fan-out across real processes: several web instances and a worker on one Redis.

Every process runs with the same KEY_PREFIX, so they share python-socketio's Redis channel and
the per-user event streams. A user event published by any process (a web instance's outbox relay
or the worker's write-only manager) reaches a client connected to any other instance, and a
client whose instance died recovers what it missed from another one with `last_event_id`.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
import socketio
from redis.asyncio import Redis
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from models.notify.notifications import Notification
from tests.conftest import RUN_PREFIX
from tests.system.conftest import StartWeb, StartWorker
from tests.system.harness import WebProcess, eventually

TIMEOUT = 10.0
PASSWORD = "correct horse battery"
_emails = itertools.count(1)


class Socket:
    """A python-socketio client and every event it received, in order."""

    def __init__(self) -> None:
        self.client = socketio.AsyncClient(reconnection=False)
        self.events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

        @self.client.on("*")
        async def any_event(event: str, data: Any) -> None:
            await self.events.put((event, data))

    async def connect(self, web: WebProcess, auth: dict[str, Any]) -> None:
        await self.client.connect(
            web.url, auth=auth, transports=["websocket"], wait_timeout=TIMEOUT
        )

    async def next(self, within: float = TIMEOUT) -> tuple[str, Any]:
        return await asyncio.wait_for(self.events.get(), within)

    async def nothing_more(self, within: float = 0.5) -> None:
        try:
            event = await asyncio.wait_for(self.events.get(), within)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected event {event!r}")


@pytest.fixture
async def sockets() -> AsyncIterator[list[Socket]]:
    opened: list[Socket] = []
    yield opened
    for socket in opened:
        if socket.client.connected:
            await socket.client.disconnect()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as session:
        yield session


async def register(http: aiohttp.ClientSession, web: WebProcess) -> dict[str, Any]:
    email = f"fanout{next(_emails)}-{secrets.token_hex(3)}@example.com"
    async with http.post(
        f"{web.url}/api/v1/auth/register", json={"email": email, "password": PASSWORD}
    ) as response:
        body = await response.json()
        assert response.status == 201, body
        return body


async def post(
    http: aiohttp.ClientSession, web: WebProcess, path: str, token: str
) -> dict[str, Any]:
    async with http.post(
        f"{web.url}{path}", headers={"Authorization": f"Bearer {token}"}
    ) as response:
        body = await response.json()
        assert response.status == 200, body
        return body


async def add_unread(engine: AsyncEngine, user_id: int, count: int) -> list[int]:
    """Unread notifications for the user straight in the database (no event for them)."""
    ids = []
    async with engine.begin() as conn:
        for n in range(count):
            result = await conn.execute(
                insert(Notification).values(
                    user_id=user_id,
                    type="test.fanout",
                    title=f"notice {n}",
                    body="",
                    data={},
                    actor_id=None,
                    read_at=None,
                    created_at=datetime.now(UTC),
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            ids.append(int(key[0]))
    return ids


def stream_key(user_id: int) -> str:
    return f"{RUN_PREFIX}:events:user:{user_id}"


def check_envelope(payload: Any, event_type: str) -> None:
    assert isinstance(payload, dict), payload
    assert set(payload) == {"event_id", "type", "ts", "data"}, payload
    assert payload["type"] == event_type, payload
    assert isinstance(payload["event_id"], str) and payload["event_id"], payload
    assert isinstance(payload["ts"], str) and payload["ts"].endswith("Z"), payload
    assert isinstance(payload["data"], dict), payload


async def device(sockets: list[Socket], web: WebProcess, auth: dict[str, Any]) -> Socket:
    """A socket connected to `web` with `auth`, kept in `sockets` to be closed at the end."""
    socket = Socket()
    sockets.append(socket)
    await socket.connect(web, auth)
    return socket


async def reader(
    http: aiohttp.ClientSession, web: WebProcess, engine: AsyncEngine, unread: int
) -> tuple[int, str, list[int]]:
    """A user registered through `web` with `unread` notifications: (user id, access token,
    the notifications' ids)."""
    account = await register(http, web)
    user_id, token = account["user"]["id"], account["access_token"]
    return user_id, token, await add_unread(engine, user_id, unread)


async def reads(socket: Socket, count: int) -> list[dict[str, Any]]:
    """The next `count` events the socket receives, each a well-formed notification.read."""
    received = []
    for _ in range(count):
        name, payload = await socket.next()
        assert name == "notification.read", (name, payload)
        check_envelope(payload, "notification.read")
        received.append(payload)
    return received


async def test_events_through_instance_b_and_from_the_worker_reach_a_client_on_instance_a(
    start_web: StartWeb,
    start_worker: StartWorker,
    sockets: list[Socket],
    http: aiohttp.ClientSession,
    check_redis: Redis,
) -> None:
    web_a, web_b = await asyncio.gather(start_web(), start_web())
    # Registered through B before any worker runs: the welcome job waits in the queue, so the
    # client on A is connected before the worker emits it.
    account = await register(http, web_b)
    user_id, token = account["user"]["id"], account["access_token"]
    socket = await device(sockets, web_a, {"token": token})

    await start_worker()  # runs notifications.welcome: notification.created from the worker
    name, created = await socket.next(TIMEOUT + 5)
    assert name == "notification.created", (name, created)
    check_envelope(created, "notification.created")
    assert created["data"]["type"] == "system.welcome"
    assert created["data"]["read_at"] is None

    # Through instance B: its outbox relay publishes notification.read_all for U.
    assert await post(http, web_b, "/api/v1/notifications/read_all", token) == {"updated": 1}
    name, read_all = await socket.next()
    assert name == "notification.read_all", (name, read_all)
    check_envelope(read_all, "notification.read_all")
    assert read_all["data"]["updated"] == 1

    # Both were numbered in U's one stream, whichever process emitted them.
    entries = await check_redis.xrange(stream_key(user_id))
    assert [entry_id.decode() for entry_id, _ in entries] == [
        created["event_id"],
        read_all["event_id"],
    ]
    await socket.nothing_more()


async def test_clients_of_a_killed_instance_recover_missed_events_from_another(
    start_web: StartWeb,
    sockets: list[Socket],
    http: aiohttp.ClientSession,
    engine: AsyncEngine,
    check_redis: Redis,
) -> None:
    web_a, web_b = await asyncio.gather(start_web(), start_web())
    user_id, token, notices = await reader(http, web_a, engine, 5)
    socket = await device(sockets, web_b, {"token": token})
    await post(http, web_a, f"/api/v1/notifications/{notices[0]}/read", token)
    name, seen = await socket.next()
    assert (name, seen["data"]) == ("notification.read", {"id": notices[0]})
    check_envelope(seen, "notification.read")
    last_event_id = seen["event_id"]

    await web_b.kill()
    await eventually(lambda: _disconnected(socket), TIMEOUT, what="the client saw B go away")

    # Missed while B is down, all published through A.
    for notice in notices[1:4]:
        await post(http, web_a, f"/api/v1/notifications/{notice}/read", token)

    async def all_in_stream() -> bool:
        return int(await check_redis.xlen(stream_key(user_id))) >= 4

    await eventually(all_in_stream, TIMEOUT, what="the missed events are in U's stream")

    again = await device(sockets, web_a, {"token": token, "last_event_id": last_event_id})
    replayed = await reads(again, 3)
    assert [p["data"]["id"] for p in replayed] == notices[1:4]

    # A new live event after the replay (only notices[4] is still unread).
    assert await post(http, web_a, "/api/v1/notifications/read_all", token) == {"updated": 1}
    name, live = await again.next()
    assert name == "notification.read_all", (name, live)
    check_envelope(live, "notification.read_all")

    ids = [seen["event_id"], *(p["event_id"] for p in replayed), live["event_id"]]
    assert len(set(ids)) == len(ids), ids
    keys = [tuple(int(part) for part in i.split("-")) for i in ids]
    assert keys == sorted(keys), ids
    await again.nothing_more()


async def _disconnected(socket: Socket) -> bool:
    return not socket.client.connected
