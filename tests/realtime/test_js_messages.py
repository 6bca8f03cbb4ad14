"""The official socket.io-client under Node receives a message and sends one with an ack
(tests/js/messenger.mjs)."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient

from tests.helpers.realtime import sign_up
from tests.realtime.test_js_client import JS_DIR, NODE, NodeClient, node_clients, pytestmark

__all__ = ["node_clients", "pytestmark"]

MESSENGER = JS_DIR / "messenger.mjs"


async def test_the_js_client_receives_a_message_and_sends_one(
    server: TestClient, node_clients
) -> None:
    ann, bob = await sign_up(server), await sign_up(server)
    bob_auth = {"Authorization": f"Bearer {bob['access_token']}"}
    response = await server.post(
        "/api/v1/conversations", json={"user_ids": [ann["user"]["id"]]}, headers=bob_auth
    )
    conversation_id = (await response.json())["id"]
    assert NODE is not None
    url = str(server.make_url("/")).rstrip("/")
    process = await asyncio.create_subprocess_exec(
        NODE,
        str(MESSENGER),
        url,
        ann["access_token"],
        str(conversation_id),
        cwd=JS_DIR,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    client = NodeClient(process)
    node_clients.append(client)
    assert (await client.line())["connected"] is True

    sent = await server.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"client_message_id": "py-1", "body": "hello Node"},
        headers=bob_auth,
    )
    assert sent.status == 201
    received = await client.line()
    assert received["event"] == "message.created", received
    assert received["payload"]["data"]["body"] == "hello Node"
    assert received["payload"]["event_id"]

    ack = (await client.line())["ack"]
    assert ack["ok"] is True, ack
    assert ack["data"]["body"] == "来自 Node 的回复"
    assert ack["data"]["sender_id"] == ann["user"]["id"]
    assert await client.exit_code() == 0, await client.stderr()

    listed = await server.get(f"/api/v1/conversations/{conversation_id}/messages", headers=bob_auth)
    bodies = [m["body"] for m in (await listed.json())["items"]]
    assert bodies == ["来自 Node 的回复", "hello Node"]
