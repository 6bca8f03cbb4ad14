"""Real Socket.IO clients against a real listening server: sockets, accounts, events."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import socketio
from aiohttp.test_utils import TestClient

from realtime.namespace import REALTIME
from server.keys import RUNTIME
from server.settings import Settings
from tests.helpers.env import make_settings

TIMEOUT = 5
PASSWORD = "correct horse battery"
_emails = itertools.count(1)


class Socket:
    """A connected client and everything it received, in order."""

    def __init__(self, client: socketio.AsyncClient) -> None:
        self.client = client
        self.events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.connect_errors: list[Any] = []
        self.disconnected = asyncio.Event()

    async def next(self) -> tuple[str, Any]:
        return await asyncio.wait_for(self.events.get(), TIMEOUT)

    async def call(self, event: str, data: Any = None) -> Any:
        return await self.client.call(event, data, timeout=TIMEOUT)


def realtime_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "session_cache_seconds": 0.2,
        "socket_revalidate_seconds": 0.1,
    }
    values.update(overrides)
    return make_settings(**values)


Connect = Callable[..., Awaitable[Socket]]


async def sign_up(server: TestClient, email: str | None = None) -> dict[str, Any]:
    """Register a fresh account through the API: its tokens and user."""
    email = email or f"user{next(_emails)}@example.com"
    response = await server.post(
        "/api/v1/auth/register", json={"email": email, "password": PASSWORD}
    )
    body = await response.json()
    assert response.status == 201, body
    return body


async def sign_in(server: TestClient, email: str) -> dict[str, Any]:
    response = await server.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    body = await response.json()
    assert response.status == 200, body
    return body


async def publish(server: TestClient, event_type: str, data: dict[str, Any], **target: Any) -> None:
    """Publish through the outbox in a committed unit of work (the relay's fast path sends it)."""
    runtime = server.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        uow.outbox.publish(event_type, data, **target)


async def until(predicate: Callable[[], bool]) -> None:
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def notifications(socket: Socket, count: int) -> list[dict[str, Any]]:
    """The next `count` events the socket receives, each a notification.created."""
    received = []
    for _ in range(count):
        name, payload = await socket.next()
        assert name == "notification.created", (name, payload)
        received.append(payload)
    return received


async def heard_one_missed_one(server: TestClient, connect: Connect) -> tuple[int, str, Any]:
    """A user whose socket heard event 1 and disconnected; event 2 was published while it was
    away: (user id, access token, event 1 as received)."""
    account = await sign_up(server)
    user_id, token = account["user"]["id"], account["access_token"]
    socket = await connect(server, {"token": token})
    await publish(server, "notification.created", {"n": 1}, user_id=user_id)
    [first] = await notifications(socket, 1)
    await socket.client.disconnect()
    await publish(server, "notification.created", {"n": 2}, user_id=user_id)
    return user_id, token, first


@contextmanager
def streams_replaced(server: TestClient, streams: Any) -> Iterator[None]:
    """The namespace reads and writes user streams through `streams` for the block."""
    namespace = server.app[REALTIME]
    original = namespace.streams
    namespace.streams = streams
    try:
        yield
    finally:
        namespace.streams = original
