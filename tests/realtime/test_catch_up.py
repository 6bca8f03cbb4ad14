"""Sockets that stay connected through a pub/sub outage, and delivery in stream order.

Each socket has a position in its user's stream (the newest id it was given, or the stream's
newest id when it connected). Each time this instance's subscription is made again, every
socket is held and its stream replayed from its position, so what was published while the
subscription was away arrives, in order, once.
"""

from __future__ import annotations

import asyncio
from typing import Any

import socketio
from redis.asyncio import Redis

from realtime.events import SocketEventSink, utc_now
from realtime.namespace import REALTIME
from realtime.server import NO_POSITION, client_manager
from realtime.streams import RedisEventStreams, event_streams, id_key
from server.keys import SOCKETS
from server.outbox import Event
from tests.helpers.env import REDIS_BASE, REDIS_DB
from tests.helpers.realtime import (
    Socket,
    heard_one_missed_one,
    notifications,
    publish,
    realtime_settings,
    sign_up,
    streams_replaced,
    until,
)
from tests.system.harness import FaultProxy

REDIS_URL = f"{REDIS_BASE}/{REDIS_DB}"


async def nothing_more(socket: Socket) -> None:
    await asyncio.sleep(0.2)
    assert socket.events.empty(), f"unexpected {socket.events.get_nowait()!r}"


def streams_of(server: Any) -> RedisEventStreams:
    streams = server.app[REALTIME].streams
    assert isinstance(streams, RedisEventStreams)
    return streams


async def stream_ids(redis: Redis, server: Any, user_id: int) -> list[str]:
    entries = await redis.xrange(streams_of(server).stream_key(user_id))
    return [entry_id.decode() for entry_id, _ in entries]


async def unheard(streams: RedisEventStreams, user_id: int, *numbers: int) -> None:
    """Events committed while this instance's subscription was away: in the stream only."""
    for n in numbers:
        await streams.append(user_id, "notification.created", {"n": n}, ts=utc_now())


def position(server: Any, socket: Socket) -> tuple[int, int]:
    positions = server.app[SOCKETS].manager.positions
    return positions.get(socket.client.get_sid("/"), NO_POSITION)


async def test_a_socket_starts_at_its_streams_end_and_moves_with_its_user_events(
    server, connect, redis: Redis
) -> None:
    account = await sign_up(server)
    user_id, token = account["user"]["id"], account["access_token"]
    await publish(server, "notification.created", {"n": 0}, user_id=user_id)
    before = await stream_ids(redis, server, user_id)
    socket = await connect(server, {"token": token})
    assert position(server, socket) == id_key(before[-1]), "older events are not owed to it"

    await publish(server, "notification.created", {"n": 1}, user_id=user_id)
    [one] = await notifications(socket, 1)
    assert position(server, socket) == id_key(one["event_id"])

    # A room event carries no stream id; an older id never moves a position back.
    await server.app[SOCKETS].emit("x", {"event_id": "9999999999999-0"}, room="elsewhere")
    manager = server.app[SOCKETS].manager
    manager.advance(socket.client.get_sid("/"), {"event_id": "1-0"})
    assert position(server, socket) == id_key(one["event_id"])

    sid = socket.client.get_sid("/")
    await socket.client.disconnect()
    await asyncio.sleep(0.1)
    assert sid not in manager.positions


async def test_a_new_users_socket_starts_before_the_first_entry(server, connect) -> None:
    account = await sign_up(server)
    socket = await connect(server, {"token": account["access_token"]})
    assert position(server, socket) == (0, 0)
    await unheard(streams_of(server), account["user"]["id"], 1, 2)
    server.app[REALTIME].resubscribed()
    assert [p["data"]["n"] for p in await notifications(socket, 2)] == [1, 2]


async def test_events_unheard_while_the_subscription_was_away_are_replayed_in_order_once(
    server, connect, redis: Redis
) -> None:
    account = await sign_up(server)
    user_id, token = account["user"]["id"], account["access_token"]
    socket = await connect(server, {"token": token})
    other = await connect(server, {"token": (await sign_up(server))["access_token"]})
    await publish(server, "notification.created", {"n": 1}, user_id=user_id)
    [first] = await notifications(socket, 1)

    await unheard(streams_of(server), user_id, 2, 3)
    server.app[REALTIME].resubscribed()
    await publish(server, "notification.created", {"n": 4}, user_id=user_id)

    received = await notifications(socket, 3)
    assert [p["data"]["n"] for p in received] == [2, 3, 4]
    ids = [first["event_id"], *(p["event_id"] for p in received)]
    assert ids == await stream_ids(redis, server, user_id)
    await nothing_more(socket)
    await nothing_more(other)  # its stream had nothing new: nothing replayed to it


async def test_a_resubscription_during_a_replay_replays_again_from_where_it_got(
    server, connect
) -> None:
    user_id, token, first = await heard_one_missed_one(server, connect)
    namespace = server.app[REALTIME]
    streams = streams_of(server)

    class Interrupted:
        """The subscription drops and comes back while the reconnect's replay reads: 3 is
        committed unheard, after the read."""

        def __init__(self) -> None:
            self.reads = 0

        async def after(self, *args: Any, **kwargs: Any) -> list[Any]:
            entries = await streams.after(*args, **kwargs)
            self.reads += 1
            if self.reads == 1:
                await unheard(streams, user_id, 3)
                namespace.resubscribed()
            return entries

        async def tail(self, user_id: int) -> str:
            return await streams.tail(user_id)

    interrupted = Interrupted()
    with streams_replaced(server, interrupted):
        again = await connect(server, {"token": token, "last_event_id": first["event_id"]})
        # 4 comes after the interrupted read (the replay reads on its own task): published
        # earlier, the stream itself would hold 2, 4, 3.
        await until(lambda: interrupted.reads >= 1)
        await publish(server, "notification.created", {"n": 4}, user_id=user_id)
        received = await notifications(again, 3)
    assert [p["data"]["n"] for p in received] == [2, 3, 4]
    await nothing_more(again)


async def test_a_socket_whose_position_is_unknown_or_trimmed_gets_recovery_failed(
    server, connect, redis: Redis
) -> None:
    account = await sign_up(server)
    user_id = account["user"]["id"]
    unknown = await connect(server, {"token": account["access_token"]})
    trimmed = await connect(server, {"token": account["access_token"]})
    await publish(server, "notification.created", {"n": 1}, user_id=user_id)
    for socket in (unknown, trimmed):
        assert [p["data"]["n"] for p in await notifications(socket, 1)] == [1]
    # As if Redis had been down when it connected, and nothing had reached it since.
    del server.app[SOCKETS].manager.positions[unknown.client.get_sid("/")]
    await unheard(streams_of(server), user_id, 2, 3)
    await redis.xtrim(streams_of(server).stream_key(user_id), maxlen=1, approximate=False)

    server.app[REALTIME].resubscribed()
    newest = id_key((await stream_ids(redis, server, user_id))[-1])
    for socket, reason in ((unknown, "unavailable"), (trimmed, "unknown_or_trimmed")):
        name, payload = await socket.next()
        assert (name, payload["data"]) == ("recovery.failed", {"reason": reason})
    # They refetch; live events go on, and they have a position again: the stream's end.
    await until(lambda: position(server, unknown) == position(server, trimmed) == newest)
    await publish(server, "notification.created", {"n": 4}, user_id=user_id)
    for socket in (unknown, trimmed):
        assert [p["data"]["n"] for p in await notifications(socket, 1)] == [4]
        await nothing_more(socket)


async def test_concurrent_sends_to_one_user_arrive_in_stream_order(
    server, connect, rt_settings, redis: Redis
) -> None:
    """Sends from this instance and from a worker's write-only manager, all at once."""
    account = await sign_up(server)
    user_id = account["user"]["id"]
    socket = await connect(server, {"token": account["access_token"]})
    worker_redis = Redis.from_url(REDIS_URL)
    emitter = client_manager(rt_settings, write_only=True)
    sinks = [
        SocketEventSink(server.app[SOCKETS], streams=streams_of(server)),
        SocketEventSink(emitter, streams=event_streams(rt_settings, worker_redis)),
    ]
    try:
        await asyncio.gather(
            *(
                sinks[n % len(sinks)].send(
                    Event("notification.created", {"n": n}, user_ids=(user_id,))
                )
                for n in range(40)
            )
        )
        received = await notifications(socket, 40)
    finally:
        await worker_redis.aclose()
    assert [p["event_id"] for p in received] == await stream_ids(redis, server, user_id)
    await nothing_more(socket)


async def test_events_committed_right_after_redis_returns_reach_a_socket_that_stayed_connected(
    make_server, database_url: str, connect, redis: Redis
) -> None:
    """The whole path: this instance's Redis is cut and restored under a connected socket;
    another process commits events the moment Redis is back, before the listener is."""
    proxy = await FaultProxy.for_url(REDIS_URL)
    try:
        settings = realtime_settings(database_url, redis_url=proxy.url(REDIS_URL))
        server = await make_server(settings)
        account = await sign_up(server)
        user_id = account["user"]["id"]
        socket = await connect(server, {"token": account["access_token"]})
        elsewhere = SocketEventSink(
            client_manager(settings, write_only=True), streams=event_streams(settings, redis)
        )

        async def commit(n: int) -> None:
            await elsewhere.send(Event("notification.created", {"n": n}, user_ids=(user_id,)))

        await commit(0)
        [first] = await notifications(socket, 1)
        proxy.cut()
        await asyncio.sleep(2.5)  # the library's listener would now wait 4 s more
        proxy.restore()
        for n in range(1, 11):
            await commit(n)
        received = await notifications(socket, 10)
        assert [p["data"]["n"] for p in received] == list(range(1, 11))
        ids = [first["event_id"], *(p["event_id"] for p in received)]
        assert ids == await stream_ids(redis, server, user_id)
        await nothing_more(socket)
    finally:
        await proxy.close()


async def test_sockets_that_connect_while_redis_is_away_get_recovery_failed_then_live_events(
    make_server, database_url: str, connect, redis: Redis
) -> None:
    proxy = await FaultProxy.for_url(REDIS_URL)
    try:
        settings = realtime_settings(database_url, redis_url=proxy.url(REDIS_URL))
        server = await make_server(settings)
        account = await sign_up(server)
        user_id, token = account["user"]["id"], account["access_token"]
        await publish(server, "notification.created", {"n": 1}, user_id=user_id)
        last = await stream_ids(redis, server, user_id)

        proxy.cut()
        fresh = await connect(server, {"token": token})  # its position cannot be read
        resuming = await connect(server, {"token": token, "last_event_id": last[0]})
        name, payload = await resuming.next()  # its stream cannot be read
        assert (name, payload["data"]) == ("recovery.failed", {"reason": "unavailable"})
        assert position(server, fresh) == NO_POSITION

        proxy.restore()
        # When the subscription returns, what either missed since cannot be known.
        both = (fresh, resuming)
        for socket in both:
            name, payload = await socket.next()
            assert (name, payload["data"]) == ("recovery.failed", {"reason": "unavailable"})
        await until(lambda: all(position(server, s) != NO_POSITION for s in both))
        await publish(server, "notification.created", {"n": 2}, user_id=user_id)
        for socket in both:
            name, payload = await socket.next()
            assert (name, payload["data"]) == ("notification.created", {"n": 2})
    finally:
        await proxy.close()


async def test_an_event_published_while_a_socket_connects_arrives_after_connect_once(
    server,
) -> None:
    account = await sign_up(server)
    user_id = account["user"]["id"]
    namespace = server.app[REALTIME]
    hooks = namespace.hooks

    class Busy:
        """The presence hook is slow: an event is committed while the connect handler runs."""

        async def connected(self, user_id: int) -> None:
            await publish(server, "notification.created", {"n": 1}, user_id=user_id)
            await asyncio.sleep(0.1)

        async def disconnected(self, user_id: int) -> None:
            pass

    client = socketio.AsyncClient(reconnection=False)
    received: list[tuple[int, bool]] = []

    @client.on("notification.created")
    async def created(payload: dict[str, Any]) -> None:
        # Whether the namespace's CONNECT had arrived (a JS client drops nothing before it,
        # but buffers it; either way the server must not send an event first).
        received.append((payload["data"]["n"], "/" in client.namespaces))

    namespace.hooks = Busy()
    try:
        url = str(server.make_url("/")).rstrip("/")
        await client.connect(url, auth={"token": account["access_token"]}, transports=["websocket"])
        await until(lambda: len(received) == 1)
        await publish(server, "notification.created", {"n": 2}, user_id=user_id)
        await until(lambda: len(received) == 2)
        await asyncio.sleep(0.2)
    finally:
        namespace.hooks = hooks
        await client.disconnect()
    assert received == [(1, True), (2, True)]
