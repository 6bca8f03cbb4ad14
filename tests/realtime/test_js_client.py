"""The official JavaScript socket.io-client (npm, under Node) against a real server.

tests/js/client.mjs connects with a token, subscribes to a room it may not
join (to get an ack), waits for one server event and prints each step as a
JSON line; these tests drive it as a subprocess.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.helpers.realtime import publish, sign_up

JS_DIR = Path(__file__).resolve().parents[1] / "js"
CLIENT = JS_DIR / "client.mjs"
NODE = shutil.which("node")
LINE_TIMEOUT = 15  # the client gives up by itself after 10 s

pytestmark = [
    pytest.mark.skipif(NODE is None, reason="node is not installed"),
    pytest.mark.skipif(
        not (JS_DIR / "node_modules" / "socket.io-client").is_dir(),
        reason="tests/js/node_modules is missing: run `npm ci` in tests/js (scripts/test does)",
    ),
]


class NodeClient:
    """The Node process and the JSON lines it prints."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def line(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        raw = await asyncio.wait_for(self.process.stdout.readline(), LINE_TIMEOUT)
        if not raw:
            stderr = await self.stderr()
            raise AssertionError(f"the Node client printed nothing more; stderr:\n{stderr}")
        line: dict[str, Any] = json.loads(raw)
        return line

    async def stderr(self) -> str:
        assert self.process.stderr is not None
        return (await self.process.stderr.read()).decode(errors="replace")

    async def exit_code(self) -> int:
        return await asyncio.wait_for(self.process.wait(), LINE_TIMEOUT)


async def run_client(server: TestClient, token: str, event: str) -> NodeClient:
    assert NODE is not None
    url = str(server.make_url("/")).rstrip("/")
    process = await asyncio.create_subprocess_exec(
        NODE,
        str(CLIENT),
        url,
        token,
        event,
        cwd=JS_DIR,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    return NodeClient(process)


@pytest.fixture
async def node_clients() -> Any:
    started: list[NodeClient] = []
    yield started
    for client in started:
        if client.process.returncode is None:
            client.process.kill()
            await client.process.wait()


async def test_the_js_client_connects_gets_an_ack_and_a_user_event(server, node_clients) -> None:
    account = await sign_up(server)
    client = await run_client(server, account["access_token"], "notification.created")
    node_clients.append(client)

    connected = await client.line()
    assert connected["connected"] is True, connected
    assert isinstance(connected["id"], str) and connected["id"]

    ack = (await client.line())["ack"]
    assert ack["ok"] is False, ack
    assert ack["error"]["code"] == "auth.forbidden"
    assert ack["error"]["message"]

    data = {"notification_id": 42, "title": "Hello from Python", "tags": ["a", "b"]}
    await publish(server, "notification.created", data, user_id=account["user"]["id"])

    received = await client.line()
    assert received["event"] == "notification.created", received
    envelope = received["payload"]
    assert isinstance(envelope["event_id"], str) and envelope["event_id"]
    assert envelope["type"] == "notification.created"
    assert isinstance(envelope["ts"], str) and envelope["ts"].endswith("Z")
    assert envelope["data"] == data

    assert await client.exit_code() == 0, await client.stderr()


async def test_the_js_client_sees_a_bad_token_as_a_connect_error(server, node_clients) -> None:
    client = await run_client(server, "not-a-token", "notification.created")
    node_clients.append(client)

    error = await client.line()
    assert error["error"] == "connect_error", error
    assert error["message"] == "auth.invalid_token"
    assert error["data"]["code"] == "auth.invalid_token"
    assert error["data"]["message"]
    assert await client.exit_code() == 1
