"""The Redis manager's pub/sub listener: quiet spells, outages, and the emits streams publish."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis
from socketio.async_pubsub_manager import AsyncPubSubManager

from realtime.server import RESUBSCRIBE_MAX_WAIT, RedisManager
from realtime.streams import STREAM_HOST_ID, emit_message
from tests.helpers.env import REDIS_BASE, REDIS_DB, RUN_PREFIX
from tests.helpers.realtime import until
from tests.system.harness import FaultProxy

REDIS_URL = f"{REDIS_BASE}/{REDIS_DB}"


class Listening:
    """A RedisManager's listener running in a task: what it received, how often it subscribed."""

    def __init__(self, manager: RedisManager) -> None:
        self.manager = manager
        self.received: list[Any] = []
        self.subscriptions = 0
        manager.on_subscribed = self._subscribed
        self.task = asyncio.create_task(self._listen())

    def _subscribed(self) -> None:
        self.subscriptions += 1

    async def _listen(self) -> None:
        async for data in self.manager._listen():
            self.received.append(data)

    async def close(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        for client in (self.manager.pubsub, self.manager.listener, self.manager.redis):
            if client is not None:
                await client.aclose()


@pytest.fixture
async def direct() -> AsyncIterator[Redis]:
    """A client straight to Redis (the `redis` fixture would bring the database along)."""
    client = Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture
async def listening() -> AsyncIterator[list[Listening]]:
    started: list[Listening] = []
    yield started
    for one in started:
        await one.close()


def channel() -> str:
    return f"{RUN_PREFIX}:listener:{secrets.token_hex(3)}"


async def test_the_listener_keeps_its_subscription_through_a_quiet_spell(
    direct: Redis, listening: list[Listening]
) -> None:
    name = channel()
    options = {"socket_connect_timeout": 2, "socket_timeout": 0.2}
    manager = RedisManager(REDIS_URL, channel=name, redis_options=options)
    listener = Listening(manager)
    listening.append(listener)
    await until(lambda: listener.subscriptions == 1)
    await asyncio.sleep(1.0)  # five read timeouts' worth of silence
    await direct.publish(name, b"after the quiet")
    await until(lambda: listener.received == [b"after the quiet"])
    assert listener.subscriptions == 1, "the subscription was dropped and made again"


async def test_the_listener_subscribes_again_within_a_second_of_redis_returning(
    direct: Redis, listening: list[Listening]
) -> None:
    proxy = await FaultProxy.for_url(REDIS_URL)
    try:
        name = channel()
        options = {"socket_connect_timeout": 2, "socket_timeout": 5}
        manager = RedisManager(proxy.url(REDIS_URL), channel=name, redis_options=options)
        listener = Listening(manager)
        listening.append(listener)
        await until(lambda: listener.subscriptions == 1)

        proxy.cut()
        # Long enough for the library's doubling waits (1, 2, 4 s ...) to leave it away for
        # seconds after Redis returns; ours never waits longer than RESUBSCRIBE_MAX_WAIT.
        await asyncio.sleep(3.5)
        assert listener.subscriptions == 1
        proxy.restore()
        returned = asyncio.get_running_loop().time()
        await until(lambda: listener.subscriptions == 2)
        waited = asyncio.get_running_loop().time() - returned
        assert waited < RESUBSCRIBE_MAX_WAIT + 1.5, f"subscribed again only after {waited:.1f} s"

        await direct.publish(name, b"after the outage")
        await until(lambda: listener.received == [b"after the outage"])
    finally:
        await proxy.close()


async def test_a_failing_subscription_hook_does_not_stop_the_listener(
    direct: Redis, listening: list[Listening]
) -> None:
    name = channel()
    manager = RedisManager(REDIS_URL, channel=name)
    listener = Listening(manager)
    listening.append(listener)

    def failing() -> None:
        listener.subscriptions += 1
        raise RuntimeError("the namespace failed")

    manager.on_subscribed = failing
    await until(lambda: listener.subscriptions == 1)
    await direct.publish(name, b"still listening")
    await until(lambda: listener.received == [b"still listening"])


async def test_a_streams_emit_is_the_librarys_emit_from_a_host_that_is_none_of_ours() -> None:
    data = {"order_id": 9, "note": 'quotes " and \\ and 中文'}
    before, after = emit_message(
        "order.updated", orjson.dumps(data), "2026-01-01T00:00:00.000Z", "user:5"
    )
    message = orjson.loads(before + b"1767225600000-3" + after)
    assert message == {
        "method": "emit",
        "event": "order.updated",
        "data": [
            {
                "event_id": "1767225600000-3",
                "type": "order.updated",
                "ts": "2026-01-01T00:00:00.000Z",
                "data": data,
            }
        ],
        "binary": False,
        "namespace": "/",
        "room": "user:5",
        "skip_sid": None,
        "callback": None,
        "host_id": STREAM_HOST_ID,
    }
    library = Capturing()
    envelope = message["data"][0]
    await library.emit("order.updated", envelope, room="user:5", namespace="/")
    assert library.published == [{**message, "host_id": library.host_id}]


class Capturing(AsyncPubSubManager):
    """The library's pub/sub manager, keeping what it would publish."""

    def __init__(self) -> None:
        super().__init__(channel="unused", write_only=True)
        self.published: list[Any] = []

    async def _handle_emit(self, message: Any) -> None:
        pass  # no local sockets

    async def _publish(self, data: Any) -> None:
        self.published.append(data)
