"""Per-user streams: event ids, replay after a reconnect, recovery.failed, duplicate delivery."""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis

from realtime.events import SocketEventSink
from realtime.namespace import REALTIME
from realtime.server import client_manager
from realtime.streams import RedisEventStreams, event_streams
from server.keys import RUNTIME, SOCKETS
from server.outbox import Event
from tests.helpers.realtime import (
    heard_one_missed_one,
    notifications,
    publish,
    sign_up,
    streams_replaced,
)


def stream_key(server, user_id: int) -> str:
    streams = server.app[REALTIME].streams
    assert isinstance(streams, RedisEventStreams)
    return streams.stream_key(user_id)


async def test_a_reconnect_replays_missed_events_in_order_before_new_ones(server, connect) -> None:
    account = await sign_up(server)
    user_id, token = account["user"]["id"], account["access_token"]
    socket = await connect(server, {"token": token})
    for n in (1, 2, 3):
        await publish(server, "notification.created", {"n": n}, user_id=user_id)
    first = await notifications(socket, 3)
    assert [p["data"]["n"] for p in first] == [1, 2, 3]
    await socket.client.disconnect()

    for n in (4, 5, 6):
        await publish(server, "notification.created", {"n": n}, user_id=user_id)
    again = await connect(server, {"token": token, "last_event_id": first[-1]["event_id"]})
    # Published while the replay may still be running: it must come after 4, 5 and 6.
    await publish(server, "notification.created", {"n": 7}, user_id=user_id)

    replayed = await notifications(again, 4)
    assert [p["data"]["n"] for p in replayed] == [4, 5, 6, 7]
    ids = [p["event_id"] for p in first + replayed]
    assert len(set(ids)) == 7
    await asyncio.sleep(0.1)
    assert again.events.empty(), "nothing is delivered twice"


async def test_a_reconnect_with_the_newest_id_replays_nothing(server, connect) -> None:
    account = await sign_up(server)
    socket = await connect(server, {"token": account["access_token"]})
    await publish(server, "notification.created", {"n": 1}, user_id=account["user"]["id"])
    [last] = await notifications(socket, 1)
    again = await connect(
        server, {"token": account["access_token"], "last_event_id": last["event_id"]}
    )
    await publish(server, "notification.created", {"n": 2}, user_id=account["user"]["id"])
    assert [p["data"]["n"] for p in await notifications(again, 1)] == [2]


async def test_an_unknown_or_malformed_id_gets_recovery_failed(server, connect) -> None:
    account = await sign_up(server)
    await publish(server, "notification.created", {"n": 1}, user_id=account["user"]["id"])
    for last_event_id, reason in (
        ("1-0", "unknown_or_trimmed"),
        ("yesterday", "malformed_event_id"),
        (17, "malformed_event_id"),
    ):
        socket = await connect(
            server, {"token": account["access_token"], "last_event_id": last_event_id}
        )
        name, payload = await socket.next()
        assert name == "recovery.failed"
        assert payload["type"] == "recovery.failed"
        assert payload["event_id"] is None
        assert payload["data"] == {"reason": reason}
        assert payload["ts"].endswith("Z")
        # Live delivery goes on after the failure.
        await publish(server, "notification.created", {"n": 2}, user_id=account["user"]["id"])
        [live] = await notifications(socket, 1)
        assert live["data"] == {"n": 2}
        await socket.client.disconnect()


async def test_an_id_trimmed_from_the_stream_gets_recovery_failed(
    server, connect, redis: Redis
) -> None:
    account = await sign_up(server)
    user_id = account["user"]["id"]
    socket = await connect(server, {"token": account["access_token"]})
    for n in (1, 2, 3):
        await publish(server, "notification.created", {"n": n}, user_id=user_id)
    first = await notifications(socket, 3)
    await socket.client.disconnect()
    await redis.xtrim(stream_key(server, user_id), maxlen=1, approximate=False)

    again = await connect(
        server, {"token": account["access_token"], "last_event_id": first[0]["event_id"]}
    )
    name, payload = await again.next()
    assert (name, payload["data"]) == ("recovery.failed", {"reason": "unknown_or_trimmed"})


async def test_streams_are_bounded_and_expire(server, redis: Redis) -> None:
    account = await sign_up(server)
    key = stream_key(server, account["user"]["id"])
    await publish(server, "notification.created", {"n": 1}, user_id=account["user"]["id"])
    for _ in range(50):
        if await redis.exists(key):
            break
        await asyncio.sleep(0.02)
    assert 0 < await redis.ttl(key) <= server.app[REALTIME].settings.event_stream_ttl_seconds


async def test_a_duplicate_outbox_delivery_adds_one_stream_entry(
    server, connect, redis: Redis
) -> None:
    account = await sign_up(server)
    user_id = account["user"]["id"]
    socket = await connect(server, {"token": account["access_token"]})
    sink = SocketEventSink(server.app[SOCKETS], streams=server.app[REALTIME].streams)
    event = Event("order.updated", {"order_id": 9}, user_ids=(user_id,), dedupe_id="outbox:991")

    await sink.send(event)
    await sink.send(event)

    assert await redis.xlen(stream_key(server, user_id)) == 1
    name, payload = await socket.next()
    assert (name, payload["data"]) == ("order.updated", {"order_id": 9})
    # Published once, with its entry: an old id sent again would arrive after newer ones.
    await asyncio.sleep(0.2)
    assert socket.events.empty(), "a re-sent event is not delivered again"

    await sink.send(Event("order.updated", {"order_id": 10}, user_ids=(user_id,)))
    assert await redis.xlen(stream_key(server, user_id)) == 2
    # Another event under a reused row id (SQLite reuses ids) is not a duplicate.
    reused = Event("order.updated", {"order_id": 11}, user_ids=(user_id,), dedupe_id="outbox:991")
    await sink.send(reused)
    assert await redis.xlen(stream_key(server, user_id)) == 3


async def test_events_published_during_the_replay_wait_for_it_and_arrive_once(
    server, connect
) -> None:
    _, token, first = await heard_one_missed_one(server, connect)
    streams = server.app[REALTIME].streams
    sink = SocketEventSink(server.app[SOCKETS], streams=streams)

    class SlowStreams:
        """Events land just before the replay reads (3) and while it sends (4)."""

        async def append(self, *args: Any, **kwargs: Any) -> str:
            return await streams.append(*args, **kwargs)

        async def after(self, user_id: int, last_event_id: object) -> list[Any]:
            await sink.send(Event("notification.created", {"n": 3}, user_ids=(user_id,)))
            entries = await streams.after(user_id, last_event_id)
            await sink.send(Event("notification.created", {"n": 4}, user_ids=(user_id,)))
            await asyncio.sleep(0.05)
            return entries

    with streams_replaced(server, SlowStreams()):
        again = await connect(server, {"token": token, "last_event_id": first["event_id"]})
        received = await notifications(again, 3)
    assert [p["data"]["n"] for p in received] == [2, 3, 4]
    await asyncio.sleep(0.1)
    assert again.events.empty(), "the held copy of 3 is dropped: the replay sent it"


async def test_a_workers_sink_numbers_events_from_the_same_stream(
    server, connect, rt_settings, redis: Redis
) -> None:
    """Workers emit through a write-only Redis manager and append to the same Redis streams."""
    account = await sign_up(server)
    user_id = account["user"]["id"]
    socket = await connect(server, {"token": account["access_token"]})
    emitter = client_manager(rt_settings, write_only=True)
    sink = SocketEventSink(emitter, streams=event_streams(rt_settings, server.app[RUNTIME].redis))
    try:
        await sink.send(Event("job.progress", {"pct": 50}, user_ids=(user_id,), dedupe_id="o:1"))
        name, payload = await socket.next()
    finally:
        if emitter.redis is not None:
            await emitter.redis.aclose()
    assert (name, payload["data"]) == ("job.progress", {"pct": 50})
    [(entry_id, _)] = await redis.xrange(stream_key(server, user_id))
    assert payload["event_id"] == entry_id.decode()
