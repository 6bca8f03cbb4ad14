"""The Redis manager's pub/sub listener on a quiet channel."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from redis.asyncio import Redis

from realtime.server import RedisManager
from tests.conftest import REDIS_BASE, REDIS_DB, RUN_PREFIX
from tests.realtime.conftest import until


async def test_the_listener_keeps_its_subscription_through_a_quiet_spell() -> None:
    redis = Redis.from_url(f"{REDIS_BASE}/{REDIS_DB}")
    channel = f"{RUN_PREFIX}:quiet:{secrets.token_hex(3)}"
    options = {"socket_connect_timeout": 2, "socket_timeout": 0.2}
    manager = RedisManager(f"{REDIS_BASE}/{REDIS_DB}", channel=channel, redis_options=options)
    connects: list[int] = []
    connect = manager._redis_connect

    def counting() -> None:
        connects.append(1)
        connect()

    manager._redis_connect = counting  # type: ignore[method-assign]
    received: list[Any] = []

    async def listen() -> None:
        async for data in manager._listen():
            received.append(data)

    task = asyncio.create_task(listen())
    try:
        await until(lambda: manager.pubsub is not None and manager.pubsub.subscribed)
        await asyncio.sleep(1.0)  # five read timeouts' worth of silence
        await redis.publish(channel, b"after the quiet")
        await until(lambda: received == [b"after the quiet"])
        assert len(connects) == 1, "the subscription was dropped and made again"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        for client in (manager.pubsub, manager.listener, manager.redis, redis):
            await client.aclose()
