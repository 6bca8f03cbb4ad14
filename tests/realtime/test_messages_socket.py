"""Messaging over the socket: `message.send`, `message.read` and `typing` through the client
event registry, delivery to every device, conversation rooms and presence."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient

from server.keys import RUNTIME
from server.social.presence import service as presence
from tests.helpers.realtime import Socket, realtime_settings, sign_in, sign_up
from tests.realtime.test_client_events import error


async def rest(server: TestClient, method: str, path: str, token: str, **kwargs: Any) -> Any:
    response = await server.request(
        method, f"/api/v1{path}", headers={"Authorization": f"Bearer {token}"}, **kwargs
    )
    return response.status, (await response.json() if response.status != 204 else None)


async def conversation(server: TestClient, ann: dict[str, Any], bob: dict[str, Any]) -> int:
    status, body = await rest(
        server,
        "POST",
        "/conversations",
        ann["access_token"],
        json={"user_ids": [bob["user"]["id"]]},
    )
    assert status == 201, body
    return int(body["id"])


async def next_of(socket: Socket, event: str) -> Any:
    while True:
        name, payload = await socket.next()
        if name == event:
            return payload


async def test_a_socket_send_reaches_every_device_of_every_member(server, connect) -> None:
    ann, bob = await sign_up(server), await sign_up(server)
    cid = await conversation(server, ann, bob)
    bob_phone = await connect(server, {"token": bob["access_token"]})
    bob_laptop = await connect(
        server, {"token": (await sign_in(server, bob["user"]["email"]))["access_token"]}
    )
    ann_socket = await connect(server, {"token": ann["access_token"]})

    ack = await ann_socket.call(
        "message.send", {"conversation_id": cid, "client_message_id": "s-1", "body": "嗨"}
    )
    assert ack["ok"] is True, ack
    message = ack["data"]
    assert message["body"] == "嗨" and message["sender_id"] == ann["user"]["id"]
    for socket in (bob_phone, bob_laptop, ann_socket):
        payload = await next_of(socket, "message.created")
        assert payload["type"] == "message.created" and payload["event_id"]
        assert payload["data"]["id"] == message["id"]

    again = await ann_socket.call(
        "message.send", {"conversation_id": cid, "client_message_id": "s-1", "body": "嗨"}
    )
    assert again == ack
    _status, page = await rest(server, "GET", f"/conversations/{cid}/messages", bob["access_token"])
    assert [m["id"] for m in page["items"]] == [message["id"]]
    await asyncio.sleep(0.1)
    assert bob_phone.events.empty()  # the retry sent nothing


async def test_socket_reads_tell_the_other_members(server, connect) -> None:
    ann, bob = await sign_up(server), await sign_up(server)
    cid = await conversation(server, ann, bob)
    ann_socket = await connect(server, {"token": ann["access_token"]})
    bob_socket = await connect(server, {"token": bob["access_token"]})
    sent = await ann_socket.call(
        "message.send", {"conversation_id": cid, "client_message_id": "r-1", "body": "read me"}
    )
    await next_of(bob_socket, "message.created")
    ack = await bob_socket.call(
        "message.read", {"conversation_id": cid, "message_id": sent["data"]["id"]}
    )
    assert ack == {
        "ok": True,
        "data": {
            "conversation_id": cid,
            "last_read_message_id": sent["data"]["id"],
            "unread_count": 0,
        },
    }
    receipt = await next_of(ann_socket, "message.read")
    assert receipt["data"]["user_id"] == bob["user"]["id"]
    ack = await bob_socket.call(
        "message.delivered", {"conversation_id": cid, "message_id": sent["data"]["id"]}
    )
    assert ack["ok"] is True and ack["data"]["last_delivered_message_id"] == sent["data"]["id"]


async def test_typing_goes_to_the_conversation_room_of_members_only(server, connect) -> None:
    ann, bob, eve = await sign_up(server), await sign_up(server), await sign_up(server)
    cid = await conversation(server, ann, bob)
    ann_socket = await connect(server, {"token": ann["access_token"]})
    bob_socket = await connect(server, {"token": bob["access_token"]})
    eve_socket = await connect(server, {"token": eve["access_token"]})
    room = f"conversation:{cid}"
    assert (await bob_socket.call("subscribe", {"room": room}))["ok"] is True
    assert await eve_socket.call("subscribe", {"room": room}) == error("auth.forbidden")
    assert await eve_socket.call("subscribe", {"room": "conversation:abc"}) == error(
        "auth.forbidden"
    )

    assert await ann_socket.call("typing", {"conversation_id": cid}) == {"ok": True, "data": {}}
    typing = await next_of(bob_socket, "conversation.typing")
    assert typing["event_id"] is None
    assert typing["data"] == {"conversation_id": cid, "user_id": ann["user"]["id"]}

    assert await eve_socket.call("typing", {"conversation_id": cid}) == error(
        "messages.conversation_not_found"
    )
    assert await eve_socket.call(
        "message.send", {"conversation_id": cid, "client_message_id": "e", "body": "x"}
    ) == error("messages.conversation_not_found")
    assert await eve_socket.call(
        "message.read", {"conversation_id": cid, "message_id": 1}
    ) == error("messages.conversation_not_found")
    assert await ann_socket.call("message.send", {"conversation_id": "x"}) == error(
        "request.validation"
    )
    assert await ann_socket.call("typing", {}) == error("request.validation")
    await asyncio.sleep(0.1)
    assert eve_socket.events.empty()


async def test_a_flood_of_sends_gets_rate_limited_acks(make_server, connect, database_url) -> None:
    server = await make_server(
        realtime_settings(database_url, socket_event_rate=1, socket_event_burst=3)
    )
    ann, bob = await sign_up(server), await sign_up(server)
    cid = await conversation(server, ann, bob)
    socket = await connect(server, {"token": ann["access_token"]})
    acks = await asyncio.gather(
        *(
            socket.call(
                "message.send", {"conversation_id": cid, "client_message_id": f"f{i}", "body": "f"}
            )
            for i in range(10)
        )
    )
    assert sum(ack == error("rate_limited") for ack in acks) >= 6
    assert socket.client.connected


async def test_presence_follows_sockets_and_is_shown_to_whom_it_may_be(server, connect) -> None:
    ann, bob, eve = await sign_up(server), await sign_up(server), await sign_up(server)
    await conversation(server, ann, bob)
    ann_id = ann["user"]["id"]
    status, body = await rest(server, "GET", f"/users/{ann_id}/presence", bob["access_token"])
    assert status == 200 and body["online"] is False
    status, body = await rest(server, "GET", f"/users/{ann_id}/presence", eve["access_token"])
    assert status == 403 and body["error"]["code"] == "presence.hidden"

    watcher = await connect(server, {"token": bob["access_token"]})
    assert (await watcher.call("subscribe", {"room": f"presence:{ann_id}"}))["ok"] is True
    eve_socket = await connect(server, {"token": eve["access_token"]})
    assert await eve_socket.call("subscribe", {"room": f"presence:{ann_id}"}) == error(
        "auth.forbidden"
    )

    first = await connect(server, {"token": ann["access_token"]})
    second = await connect(server, {"token": ann["access_token"]})
    update = await next_of(watcher, "presence.updated")
    assert update["data"]["user_id"] == ann_id and update["data"]["online"] is True
    status, body = await rest(server, "GET", f"/users/{ann_id}/presence", bob["access_token"])
    assert body["online"] is True

    await first.client.disconnect()
    await asyncio.sleep(0.2)
    assert await presence.is_online(_runtime(server), ann_id)
    await second.client.disconnect()
    update = await next_of(watcher, "presence.updated")
    assert update["data"]["online"] is False
    status, body = await rest(server, "GET", f"/users/{ann_id}/presence", bob["access_token"])
    assert body["online"] is False and body["last_seen_at"]


def _runtime(server: TestClient) -> Any:
    return server.app[RUNTIME]
