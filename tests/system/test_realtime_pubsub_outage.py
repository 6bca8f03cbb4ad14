"""Realtime delivery through a pub/sub outage and under concurrent sends, with real processes.

Instance A reaches Redis through a FaultProxy; instance B reaches it directly. A client stays
connected to A while A's Redis is cut and restored. Events that B commits the moment Redis is
back, before A's listener has subscribed again, reach the client all the same: A replays each
of its sockets' streams from its position when the subscription is made again. And the events
of one user reach its sockets in the order of that user's stream, however many requests on
however many instances send them at once.
"""

from __future__ import annotations

import asyncio

import aiohttp
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.system.conftest import MakeProxy, StartWeb
from tests.system.test_realtime_fanout import (
    Socket,
    device,
    http,
    post,
    reader,
    reads,
    sockets,
    stream_key,
)

__all__ = ["http", "sockets"]

EVENTS_AFTER_THE_OUTAGE = 25


async def stream_ids(redis: Redis, user_id: int) -> list[str]:
    return [entry_id.decode() for entry_id, _ in await redis.xrange(stream_key(user_id))]


async def test_events_committed_as_redis_returns_reach_a_socket_that_stayed_connected(
    start_web: StartWeb,
    fault_proxy: MakeProxy,
    redis_url: str,
    sockets: list[Socket],
    http: aiohttp.ClientSession,
    engine: AsyncEngine,
    check_redis: Redis,
) -> None:
    proxy = await fault_proxy(redis_url)
    web_a, web_b = await asyncio.gather(start_web(redis_url=proxy.url(redis_url)), start_web())
    user_id, token, notices = await reader(http, web_b, engine, EVENTS_AFTER_THE_OUTAGE + 1)
    socket = await device(sockets, web_a, {"token": token})
    await post(http, web_b, f"/api/v1/notifications/{notices[0]}/read", token)
    [first] = await reads(socket, 1)

    proxy.cut()
    # Python-socketio's own listener would by now wait 4 s before its next attempt.
    await asyncio.sleep(3.5)
    proxy.restore()
    for notice in notices[1:]:
        await post(http, web_b, f"/api/v1/notifications/{notice}/read", token)

    received = await reads(socket, EVENTS_AFTER_THE_OUTAGE)
    assert [p["data"]["id"] for p in received] == notices[1:]
    ids = [first["event_id"], *(p["event_id"] for p in received)]
    assert ids == await stream_ids(check_redis, user_id), "every one, in order, once"
    await socket.nothing_more(1.0)
    assert socket.client.connected


async def test_concurrent_sends_to_one_user_on_two_instances_arrive_in_stream_order(
    start_web: StartWeb,
    sockets: list[Socket],
    http: aiohttp.ClientSession,
    engine: AsyncEngine,
    check_redis: Redis,
) -> None:
    web_a, web_b = await asyncio.gather(start_web(), start_web())
    user_id, token, notices = await reader(http, web_a, engine, 40)
    socket = await device(sockets, web_a, {"token": token})

    await asyncio.gather(
        *(
            post(http, (web_a, web_b)[n % 2], f"/api/v1/notifications/{notice}/read", token)
            for n, notice in enumerate(notices)
        )
    )
    received = await reads(socket, len(notices))
    assert sorted(p["data"]["id"] for p in received) == notices
    assert [p["event_id"] for p in received] == await stream_ids(check_redis, user_id)
    await socket.nothing_more()
