"""Messaging and presence in the embedded mode (SQLite, in-memory sockets and counts), the
client event registry, and the presence sweep of a dead instance on Redis."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from realtime.namespace import ClientEvents
from server.app import create_app
from server.keys import RUNTIME
from server.social.presence import service as presence
from server.social.presence.service import PresenceTracker
from tests.helpers.env import migrated_embedded_settings
from tests.helpers.realtime import sign_up
from tests.realtime.test_messages_socket import conversation, next_of, rest


@pytest.fixture
async def embedded(aiohttp_client: Any, tmp_path: Path) -> Any:
    settings = await migrated_embedded_settings(tmp_path)
    return await aiohttp_client(create_app(settings))


async def test_embedded_messaging_search_and_presence(embedded, connect) -> None:
    ann, bob = await sign_up(embedded), await sign_up(embedded)
    cid = await conversation(embedded, ann, bob)
    bob_socket = await connect(embedded, {"token": bob["access_token"]})
    ann_socket = await connect(embedded, {"token": ann["access_token"]})
    ack = await ann_socket.call(
        "message.send", {"conversation_id": cid, "client_message_id": "e1", "body": "知识付费 ok"}
    )
    assert ack["ok"] is True, ack
    created = await next_of(bob_socket, "message.created")
    assert created["data"]["id"] == ack["data"]["id"]
    status, found = await rest(embedded, "GET", "/me/messages/search?q=付费", bob["access_token"])
    assert status == 200 and [m["id"] for m in found["items"]] == [ack["data"]["id"]]
    status, _ = await rest(
        embedded, "DELETE", f"/messages/{ack['data']['id']}", bob["access_token"]
    )
    assert status == 204

    ann_id = ann["user"]["id"]
    status, body = await rest(embedded, "GET", f"/users/{ann_id}/presence", bob["access_token"])
    assert body["online"] is True and body["last_seen_at"] is None
    assert (await bob_socket.call("subscribe", {"room": f"presence:{ann_id}"}))["ok"] is True
    await ann_socket.client.disconnect()
    update = await next_of(bob_socket, "presence.updated")
    assert update["data"] == {"user_id": ann_id, "online": False, "at": update["data"]["at"]}
    assert update["data"]["at"].endswith("Z")
    status, body = await rest(embedded, "GET", f"/users/{ann_id}/presence", bob["access_token"])
    assert body["online"] is False


def test_client_events_refuse_built_in_and_repeated_names() -> None:
    events = ClientEvents()

    async def handler(_principal: Any, _body: dict[str, Any]) -> None:
        return None

    events.register("x.y", handler)
    assert events.names == ["x.y"]
    for name in ("subscribe", "auth.refresh", "x.y", ""):
        with pytest.raises(ValueError):
            events.register(name, handler)


async def test_a_dead_instances_users_are_swept_offline(server, redis: Redis) -> None:
    runtime = server.app[RUNTIME]
    dead = PresenceTracker(runtime, instance_id="dead-instance")
    alive = PresenceTracker(runtime, instance_id="alive-instance")
    await dead.beat()
    await dead.connected(41)
    await dead.connected(42)
    await alive.connected(42)
    await dead.flush()
    await alive.flush()
    assert await presence.is_online(runtime, 41) and await presence.is_online(runtime, 42)

    await redis.zadd(dead.keys.instances, {"dead-instance": 1})  # its heartbeat long gone
    assert not await presence.is_online(runtime, 41)  # stale at once, before any sweep
    assert await alive.beat() >= 1
    assert await presence.is_online(runtime, 42)  # still on the live instance
    assert not await redis.exists(dead.keys.instance("dead-instance"))
    assert await presence.last_seen(runtime, 41) is not None
    # It was only paused: its next heartbeat puts its users back.
    await dead.beat()
    assert await presence.is_online(runtime, 41)
    await dead.stop()
    assert not await presence.is_online(runtime, 41)
    await alive.disconnected(42)
    await alive.disconnected(42)  # more disconnects than connects stay at zero
    await alive.flush()
    assert not await presence.is_online(runtime, 42)
    await alive.stop()
    await asyncio.sleep(0)
