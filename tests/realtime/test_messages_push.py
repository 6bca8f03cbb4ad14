"""A message pushes the members no socket of theirs reaches, and not the connected ones."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from aiohttp.test_utils import TestClient

from models.notify.push import PushDevice
from server.keys import RUNTIME
from server.social.presence import service as presence
from tests.helpers.realtime import Socket, sign_up
from tests.realtime.test_messages_socket import next_of, rest


async def with_device(server: TestClient, user_id: int) -> None:
    async with server.app[RUNTIME].db.unit_of_work() as uow:
        uow.session.add(
            PushDevice(user_id=user_id, provider="fcm", token=f"fcm:{user_id:0>60}", platform="ios")
        )


async def pushed_users(server: TestClient) -> set[int]:
    runtime = server.app[RUNTIME]
    prefix = f"arq:job:{runtime.settings.key_prefix}:push:message:"
    keys = [key.decode() async for key in runtime.redis.scan_iter(match=f"{prefix}*")]
    return {int(key.rsplit(":", 1)[1]) for key in keys}


async def online(server: TestClient, user_id: int) -> None:
    for _ in range(50):  # presence is written just after the connect, off its path
        if await presence.is_online(server.app[RUNTIME], user_id):
            return
        await asyncio.sleep(0.02)
    raise AssertionError("never came online")


async def test_connected_members_get_the_event_and_offline_ones_a_push(server, connect) -> None:
    ann, bob, cat = await sign_up(server), await sign_up(server), await sign_up(server)
    ids = [who["user"]["id"] for who in (ann, bob, cat)]
    for user_id in ids:
        await with_device(server, user_id)
    status, body = await rest(
        server, "POST", "/conversations", ann["access_token"], json={"user_ids": ids[1:]}
    )
    assert status == 201, body
    bob_socket: Socket = await connect(server, {"token": bob["access_token"]})
    await online(server, ids[1])

    ann_socket = await connect(server, {"token": ann["access_token"]})
    request: dict[str, Any] = {
        "conversation_id": body["id"],
        "client_message_id": "m1",
        "body": "hi",
    }
    ack = await ann_socket.call("message.send", request)
    assert ack["ok"] is True, ack
    assert (await next_of(bob_socket, "message.created"))["data"]["id"] == ack["data"]["id"]
    assert await pushed_users(server) == {ids[2]}, "cat is offline; bob's socket got it"

    assert await ann_socket.call("message.send", request) == ack
    assert await pushed_users(server) == {ids[2]}, "the retry pushes nobody again"

    await bob_socket.client.disconnect()
    for _ in range(50):
        if not await presence.is_online(server.app[RUNTIME], ids[1]):
            break
        await asyncio.sleep(0.02)
    second = await ann_socket.call("message.send", {**request, "client_message_id": "m2"})
    assert second["ok"] is True
    assert await pushed_users(server) == {ids[1], ids[2]}, "bob is offline now"


async def test_one_presence_read_answers_for_many_users(server) -> None:
    runtime = server.app[RUNTIME]
    live = presence.PresenceTracker(runtime, instance_id="live-one")
    gone = presence.PresenceTracker(runtime, instance_id="gone-one")
    await live.beat()
    await gone.beat()
    await live.connected(101)
    await gone.connected(102)
    await gone.connected(103)
    await live.connected(103)
    await live.flush()
    await gone.flush()
    assert await presence.online_ids(runtime, [101, 102, 103, 104, 101]) == {101, 102, 103}
    stale = presence._ms() - int(runtime.settings.presence_ttl_seconds * 1000) - 1000
    await runtime.redis.zadd(
        presence.Keys(runtime.settings.key_prefix).instances, {"gone-one": stale}
    )
    assert await presence.online_ids(runtime, [101, 102, 103, 104]) == {101, 103}, (
        "a dead instance's sockets stop counting"
    )
    assert await presence.online_ids(runtime, []) == set()
    await live.stop()
    await gone.stop()


async def test_the_embedded_mode_reads_its_own_counts(server) -> None:
    runtime = SimpleNamespace(redis=None, settings=server.app[RUNTIME].settings, events=None)
    tracker = presence.PresenceTracker(runtime)  # type: ignore[arg-type]
    undo = presence.register_local(tracker)
    try:
        await tracker.connected(7)
        assert await presence.online_ids(runtime, [7, 8]) == {7}  # type: ignore[arg-type]
    finally:
        undo()
    assert await presence.online_ids(runtime, [7]) == set()  # type: ignore[arg-type]
