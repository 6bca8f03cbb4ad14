"""Private messages across real web processes on one Redis: every device of the recipient gets
each message once, whichever instance it is on, and a killed instance's clients lose nothing
when they reconnect elsewhere with their last event id; its users' presence is cleaned up."""

from __future__ import annotations

import asyncio
import itertools
import secrets
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis

from tests.conftest import RUN_PREFIX
from tests.system.conftest import StartWeb
from tests.system.harness import WebProcess, eventually
from tests.system.test_realtime_fanout import (
    TIMEOUT,
    Socket,
    check_envelope,
    device,
    http,
    sockets,
)

__all__ = ["http", "sockets"]

pytestmark = pytest.mark.system

PASSWORD = "correct horse battery"
_emails = itertools.count(1)
FAST_PRESENCE = {"presence_heartbeat_seconds": 0.2, "presence_ttl_seconds": 1.5}


async def register(http: aiohttp.ClientSession, web: WebProcess) -> dict[str, Any]:
    email = f"msg{next(_emails)}-{secrets.token_hex(3)}@example.com"
    async with http.post(
        f"{web.url}/api/v1/auth/register", json={"email": email, "password": PASSWORD}
    ) as response:
        body = await response.json()
        assert response.status == 201, body
        return body


async def login(http: aiohttp.ClientSession, web: WebProcess, email: str) -> str:
    async with http.post(
        f"{web.url}/api/v1/auth/login", json={"email": email, "password": PASSWORD}
    ) as response:
        body = await response.json()
        assert response.status == 200, body
        return str(body["access_token"])


async def call(
    http: aiohttp.ClientSession,
    web: WebProcess,
    method: str,
    path: str,
    token: str,
    status: int = 200,
    **kwargs: Any,
) -> Any:
    async with http.request(
        method, f"{web.url}/api/v1{path}", headers={"Authorization": f"Bearer {token}"}, **kwargs
    ) as response:
        body = await response.json()
        assert response.status == status, body
        return body


async def open_direct(
    http: aiohttp.ClientSession, web: WebProcess, token: str, other: dict[str, Any]
) -> int:
    body = await call(
        http, web, "POST", "/conversations", token, 201, json={"user_ids": [other["user"]["id"]]}
    )
    return int(body["id"])


async def send(
    http: aiohttp.ClientSession, web: WebProcess, token: str, conversation: int, n: int
) -> int:
    body = await call(
        http,
        web,
        "POST",
        f"/conversations/{conversation}/messages",
        token,
        201,
        json={"client_message_id": f"m{n}", "body": f"message {n}"},
    )
    return int(body["id"])


async def messages_of(socket: Socket, count: int, seen: list[dict[str, Any]]) -> None:
    """Take events until `count` message.created more are in `seen` (others are skipped)."""
    wanted = len(seen) + count
    while len(seen) < wanted:
        name, payload = await socket.next()
        if name == "message.created":
            check_envelope(payload, "message.created")
            seen.append(payload)


async def test_a_message_through_a_reaches_the_recipients_devices_on_a_and_b(
    start_web: StartWeb, sockets: list[Socket], http: aiohttp.ClientSession
) -> None:
    web_a, web_b = await asyncio.gather(start_web(within=90), start_web(within=90))
    ann, bob = await register(http, web_a), await register(http, web_b)
    conversation = await open_direct(http, web_a, ann["access_token"], bob)
    phone = await device(sockets, web_a, {"token": bob["access_token"]})
    laptop_token = await login(http, web_b, bob["user"]["email"])
    laptop = await device(sockets, web_b, {"token": laptop_token})

    sent = await send(http, web_a, ann["access_token"], conversation, 1)
    on_a: list[dict[str, Any]] = []
    on_b: list[dict[str, Any]] = []
    await asyncio.gather(messages_of(phone, 1, on_a), messages_of(laptop, 1, on_b))
    assert on_a[0]["data"]["id"] == on_b[0]["data"]["id"] == sent
    assert on_a[0]["event_id"] == on_b[0]["event_id"]  # one stream entry, two devices
    await phone.nothing_more()
    await laptop.nothing_more()


async def _presence_instances(redis: Redis) -> set[bytes]:
    return {
        member
        for member, _ in await redis.zrange(
            f"{RUN_PREFIX}:presence:instances", 0, -1, withscores=True
        )
    }


async def _instances_of(redis: Redis, user_id: int) -> set[bytes]:
    return set(await redis.smembers(f"{RUN_PREFIX}:presence:user:{user_id}"))  # type: ignore[misc]


async def test_killing_an_instance_loses_no_message_and_cleans_its_presence(
    start_web: StartWeb,
    sockets: list[Socket],
    http: aiohttp.ClientSession,
    check_redis: Redis,
) -> None:
    web_a, web_b = await asyncio.gather(
        start_web(within=90, **FAST_PRESENCE), start_web(within=90, **FAST_PRESENCE)
    )
    ann = await register(http, web_a)
    bob = await register(http, web_a)
    cat = await register(http, web_a)
    conversation = await open_direct(http, web_a, ann["access_token"], bob)
    await open_direct(http, web_a, ann["access_token"], cat)  # so Ann may see Cat's presence

    phone = await device(sockets, web_a, {"token": bob["access_token"]})
    laptop_token = await login(http, web_a, bob["user"]["email"])
    laptop = await device(sockets, web_b, {"token": laptop_token})
    await device(sockets, web_b, {"token": cat["access_token"]})
    cat_id = cat["user"]["id"]

    async def cat_online() -> bool:
        body = await call(http, web_a, "GET", f"/users/{cat_id}/presence", ann["access_token"])
        return bool(body["online"])

    await eventually(cat_online, TIMEOUT, what="Cat online through B")
    # The run's instance set may hold other tests' instances: B is the one Cat is on.
    on_b = await _instances_of(check_redis, cat_id)
    assert len(on_b) == 1

    sent = [await send(http, web_a, ann["access_token"], conversation, n) for n in range(3)]
    on_phone: list[dict[str, Any]] = []
    on_laptop: list[dict[str, Any]] = []
    await asyncio.gather(messages_of(phone, 3, on_phone), messages_of(laptop, 3, on_laptop))

    async def keep_sending() -> None:
        for n in range(3, 23):
            sent.append(await send(http, web_a, ann["access_token"], conversation, n))
            await asyncio.sleep(0.02)

    sender = asyncio.create_task(keep_sending())
    await asyncio.sleep(0.1)
    await web_b.kill()
    await eventually(
        lambda: _false(laptop.client.connected), TIMEOUT, what="the laptop saw B go away"
    )
    # Whatever reached the laptop before B died counts; its last id is where it resumes.
    while not laptop.events.empty():
        name, payload = laptop.events.get_nowait()
        if name == "message.created":
            on_laptop.append(payload)
    last_event_id = on_laptop[-1]["event_id"]

    again = await device(sockets, web_a, {"token": laptop_token, "last_event_id": last_event_id})
    await sender
    missing = len(sent) - len(on_laptop)
    await messages_of(again, missing, on_laptop)
    await messages_of(phone, len(sent) - len(on_phone), on_phone)

    for seen in (on_phone, on_laptop):
        ids = [payload["data"]["id"] for payload in seen]
        assert ids == sent, ids  # every message, once, in order
    await again.nothing_more()
    await phone.nothing_more()

    # Cat was only on B: offline once B's heartbeat is stale, and A's heartbeat sweeps B away.
    await eventually(lambda: _not(cat_online()), TIMEOUT, what="Cat offline after B died")

    async def swept() -> bool:
        return not on_b & await _presence_instances(check_redis)

    await eventually(swept, TIMEOUT, what="B's presence entries swept")
    bob_on = await _instances_of(check_redis, bob["user"]["id"])
    assert bob_on and not bob_on & on_b, "Bob is left on A only"
    assert bob_on <= await _presence_instances(check_redis), "A beats on"
    body = await call(
        http, web_a, "GET", f"/users/{bob['user']['id']}/presence", ann["access_token"]
    )
    assert body["online"] is True  # Bob's phone and laptop are on A


async def _false(value: bool) -> bool:
    return not value


async def _not(check: Any) -> bool:
    return not await check
