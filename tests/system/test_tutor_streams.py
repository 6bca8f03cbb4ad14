"""AI tutor answers across real processes: two web instances and a tutor worker
(`python -m jobs tutor`) on one Redis, the fake AI provider streaming slowly from this process.

A socket that drops mid-answer and reconnects to the other instance with `last_event_id` gets
every `tutor.delta` once, in order, then the one terminal event; a plain HTTP client following
the run over Server-Sent Events resumes on the other instance from `Last-Event-ID` and gets the
rest exactly once.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
import socketio
from sqlalchemy import select

from models.tutor.catalog import Persona, TutorModel
from models.tutor.runs import TutorRun
from server.commerce.wallet import service as wallet
from server.runtime import Runtime
from tests.fakes.ai_provider import FakeAIProvider, Script
from tests.fakes.base import start
from tests.system.conftest import StartWeb, StartWorker
from tests.system.harness import WebProcess, WorkerProcess

pytestmark = pytest.mark.system

TIMEOUT = 15.0
PASSWORD = "correct horse battery"
TERMINAL = frozenset({"tutor.completed", "tutor.failed"})
# 80 tokens at 25 ms: a two-second answer, long enough to drop and come back in the middle.
REPLY = "".join(f"step{i} " for i in range(80))
_emails = itertools.count(1)
_refs = itertools.count(1)


# --- shared with test_tutor_billing_chaos ---------------------------------------------------------


@pytest.fixture
async def fake_ai(aiohttp_server: Any) -> FakeAIProvider:
    """The fake provider, serving from this process; the worker reaches it over HTTP."""
    fake = FakeAIProvider()
    await start(fake, aiohttp_server)
    return fake


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as session:
        yield session


def tutor_env(fake: FakeAIProvider, **overrides: Any) -> dict[str, Any]:
    """Settings (and provider variables) for the web and tutor worker processes."""
    return {
        "ai_providers": "fake",
        "ai_fake_base_url": f"{fake.base_url}/v1",
        "ai_fake_api_key": fake.api_key,
        "tutor_delta_interval_ms": 20,
        "tutor_checkpoint_seconds": 0.2,
        "tutor_first_byte_timeout_seconds": 3,
        "tutor_idle_timeout_seconds": 3,
        # Sign-ups pay the lowest argon2id cost (as in the other tests), not production's.
        "password_hash_time_cost": 1,
        "password_hash_memory_kib": 64,
        "password_hash_parallelism": 1,
        **overrides,
    }


async def start_tutor_worker(start_worker: StartWorker, env: dict[str, Any]) -> WorkerProcess:
    return await start_worker(within=60, settings_class="TutorWorkerSettings", **env)


async def insert_persona(
    runtime: Runtime, *, p: int = 1000, c: int = 2000, max_output_tokens: int = 200
) -> int:
    """An active persona on an enabled chat model served by the provider `fake`; its id."""
    now = runtime.clock.now()
    number = secrets.token_hex(3)
    async with runtime.db.unit_of_work() as uow:
        model = TutorModel(
            name=f"system-tutor-{number}",
            kind="chat",
            routes=[{"provider": "fake", "upstream_model": "fake-chat"}],
            prompt_credits_per_1k=p,
            completion_credits_per_1k=c,
            max_output_tokens=max_output_tokens,
            enabled=True,
            created_at=now,
            updated_at=now,
        )
        uow.session.add(model)
        await uow.session.flush()
        persona = Persona(
            name=f"System tutor {number}",
            system_prompt="You explain things simply.",
            model_id=model.id,
            tags=["test"],
            status="active",
            retrieval=False,
            memory=False,
            created_at=now,
            updated_at=now,
        )
        uow.session.add(persona)
        await uow.session.flush()
        return persona.id


async def give(runtime: Runtime, user_id: int, amount: int) -> None:
    async with runtime.db.unit_of_work() as uow:
        await wallet.credit(
            uow,
            user_id=user_id,
            amount=amount,
            kind="credits.grant",
            reference=f"system-tutor:{next(_refs)}",
        )


async def api(
    http: aiohttp.ClientSession,
    web: WebProcess,
    method: str,
    path: str,
    token: str | None,
    status: int,
    **kwargs: Any,
) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.request(method, f"{web.url}/api/v1{path}", headers=headers, **kwargs) as r:
        body = await r.json()
        assert r.status == status, (method, path, r.status, body)
        return body


async def learner(http: aiohttp.ClientSession, web: WebProcess) -> tuple[int, str]:
    """A user signed up through `web`: (id, access token)."""
    email = f"tutor{next(_emails)}-{secrets.token_hex(3)}@example.com"
    body = {"email": email, "password": PASSWORD}
    account = await api(http, web, "POST", "/auth/register", None, 201, json=body)
    return account["user"]["id"], account["access_token"]


async def open_conversation(
    http: aiohttp.ClientSession, web: WebProcess, token: str, persona_id: int
) -> int:
    body = {"persona_id": persona_id}
    chat = await api(http, web, "POST", "/tutor/conversations", token, 201, json=body)
    return int(chat["id"])


async def ask(
    http: aiohttp.ClientSession, web: WebProcess, token: str, conversation_id: int, body: str
) -> int:
    """Ask through `web`; the run's id."""
    payload = {"client_message_id": f"m-{secrets.token_hex(6)}", "body": body}
    path = f"/tutor/conversations/{conversation_id}/messages"
    asked = await api(http, web, "POST", path, token, 202, json=payload)
    assert asked["run"]["status"] == "queued", asked
    return int(asked["run"]["id"])


async def run_row(runtime: Runtime, run_id: int) -> TutorRun:
    async with runtime.db.read() as session:
        found = await session.scalar(select(TutorRun).where(TutorRun.id == run_id))
        assert found is not None
        return found


class Socket:
    """A python-socketio client and every event it received, in order."""

    def __init__(self) -> None:
        self.client = socketio.AsyncClient(reconnection=False)
        self.events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

        @self.client.on("*")
        async def any_event(event: str, data: Any) -> None:
            await self.events.put((event, data))

    async def connect(self, web: WebProcess, auth: dict[str, Any]) -> None:
        await self.client.connect(
            web.url, auth=auth, transports=["websocket"], wait_timeout=TIMEOUT
        )

    async def next(self, within: float = TIMEOUT) -> tuple[str, Any]:
        return await asyncio.wait_for(self.events.get(), within)


@pytest.fixture
async def sockets() -> AsyncIterator[list[Socket]]:
    opened: list[Socket] = []
    yield opened
    for socket in opened:
        if socket.client.connected:
            await socket.client.disconnect()


async def device(sockets: list[Socket], web: WebProcess, auth: dict[str, Any]) -> Socket:
    socket = Socket()
    sockets.append(socket)
    await socket.connect(web, auth)
    return socket


# --- this module's -------------------------------------------------------------------------------


async def setting_up(
    start_web: StartWeb,
    start_worker: StartWorker,
    runtime: Runtime,
    http: aiohttp.ClientSession,
    fake: FakeAIProvider,
) -> tuple[WebProcess, WebProcess, str, int]:
    """Instances A and B and a tutor worker; a learner with credits and a conversation on A:
    (A, B, the learner's token, the conversation's id)."""
    fake.script = Script(reply=REPLY, token_interval=0.025)
    env = tutor_env(fake)
    web_a, web_b, _ = await asyncio.gather(
        start_web(**env), start_web(**env), start_tutor_worker(start_worker, env)
    )
    persona_id = await insert_persona(runtime)
    user_id, token = await learner(http, web_a)
    await give(runtime, user_id, 100_000)
    return web_a, web_b, token, await open_conversation(http, web_a, token, persona_id)


async def until_deltas(socket: Socket, run_id: int, count: int, into: list[dict[str, Any]]) -> None:
    """Receive into `into` until `count` deltas of the run came (other user events too)."""
    while sum(1 for e in into if e["type"] == "tutor.delta") < count:
        name, payload = await socket.next()
        assert name == payload["type"], (name, payload)
        if payload["type"].startswith("tutor.") and payload["data"]["run_id"] != run_id:
            continue
        into.append(payload)


async def until_end(socket: Socket, into: list[dict[str, Any]]) -> None:
    while not any(e["type"] in TERMINAL for e in into):
        name, payload = await socket.next()
        assert name == payload["type"], (name, payload)
        into.append(payload)


async def drain(socket: Socket, within: float) -> list[dict[str, Any]]:
    """Whatever else the socket receives within `within` seconds."""
    more: list[dict[str, Any]] = []
    while True:
        try:
            _, payload = await socket.next(within)
        except TimeoutError:
            return more
        more.append(payload)


def event_key(event_id: str) -> tuple[int, int]:
    ms, _, n = event_id.partition("-")
    return int(ms), int(n)


async def test_a_socket_dropped_mid_answer_resumes_on_the_other_instance_with_every_delta_once(
    start_web: StartWeb,
    start_worker: StartWorker,
    runtime: Runtime,
    http: aiohttp.ClientSession,
    fake_ai: FakeAIProvider,
    sockets: list[Socket],
) -> None:
    web_a, web_b, token, chat = await setting_up(start_web, start_worker, runtime, http, fake_ai)
    first = await device(sockets, web_a, {"token": token})
    run_id = await ask(http, web_a, token, chat, "Walk me through it step by step.")

    on_a: list[dict[str, Any]] = []
    await until_deltas(first, run_id, 5, on_a)
    await first.client.disconnect()
    assert (await run_row(runtime, run_id)).status == "running", "dropped after the answer ended"
    await asyncio.sleep(0.4)  # deltas go out while nobody listens

    last_seen = on_a[-1]["event_id"]
    second = await device(sockets, web_b, {"token": token, "last_event_id": last_seen})
    on_b: list[dict[str, Any]] = []
    await until_end(second, on_b)
    after_end = await drain(second, within=1.0)
    # The settlement's wallet.updated is committed with the end: it may come just after it.
    assert [e["type"] for e in after_end] in ([], ["wallet.updated"]), after_end

    events = on_a + on_b + after_end
    ids = [e["event_id"] for e in events]
    assert len(set(ids)) == len(ids), ids
    assert [event_key(i) for i in ids] == sorted(event_key(i) for i in ids), ids
    deltas = [e["data"] for e in events if e["type"] == "tutor.delta"]
    assert all(d["run_id"] == run_id and d["conversation_id"] == chat for d in deltas)
    assert [d["seq"] for d in deltas] == list(range(1, len(deltas) + 1))
    assert len(deltas) > 5 and any(e["type"] == "tutor.delta" for e in on_b)
    ends = [e for e in events if e["type"] in TERMINAL]
    assert [e["type"] for e in ends] == ["tutor.completed"], ends
    completed = ends[0]["data"]
    assert completed["seq"] == len(deltas) + 1
    assert "".join(d["text"] for d in deltas) == completed["message"]["body"] == REPLY
    row = await run_row(runtime, run_id)
    assert (row.status, row.text, row.seq) == ("completed", REPLY, len(deltas))
    assert len(fake_ai.requests) == 1


async def read_frame(response: aiohttp.ClientResponse) -> dict[str, Any] | None:
    """The next SSE event (pings skipped), or None at the end of the stream."""
    while True:
        try:
            block = (await response.content.readuntil(b"\n\n")).decode()
        except asyncio.IncompleteReadError:
            return None
        if not block:  # the end of the stream
            return None
        if block.startswith(":"):
            continue
        fields = dict(line.split(": ", 1) for line in block.strip().splitlines())
        payload = orjson.loads(fields["data"])
        assert payload["event_id"] == fields["id"] and payload["type"] == fields["event"]
        return {"id": int(fields["id"]), "event": fields["event"], "data": payload["data"]}


async def sse(
    http: aiohttp.ClientSession, web: WebProcess, token: str, run_id: int, last: int | None
) -> aiohttp.ClientResponse:
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    if last is not None:
        headers["Last-Event-ID"] = str(last)
    response = await http.get(f"{web.url}/api/v1/tutor/runs/{run_id}/events", headers=headers)
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"].startswith("text/event-stream")
    return response


async def test_sse_dropped_mid_answer_resumes_on_the_other_instance_from_last_event_id(
    start_web: StartWeb,
    start_worker: StartWorker,
    runtime: Runtime,
    http: aiohttp.ClientSession,
    fake_ai: FakeAIProvider,
) -> None:
    web_a, web_b, token, chat = await setting_up(start_web, start_worker, runtime, http, fake_ai)
    run_id = await ask(http, web_a, token, chat, "Walk me through it step by step.")

    on_a = await sse(http, web_a, token, run_id, None)
    first: list[dict[str, Any]] = []
    while len(first) < 5:
        frame = await asyncio.wait_for(read_frame(on_a), TIMEOUT)
        assert frame is not None and frame["event"] == "tutor.delta", frame
        first.append(frame)
    on_a.close()  # the connection drops mid-answer
    assert (await run_row(runtime, run_id)).status == "running", "dropped after the answer ended"
    await asyncio.sleep(0.4)

    on_b = await sse(http, web_b, token, run_id, first[-1]["id"])
    rest: list[dict[str, Any]] = []
    while (frame := await asyncio.wait_for(read_frame(on_b), TIMEOUT)) is not None:
        rest.append(frame)
    on_b.close()

    frames = first + rest
    assert [f["id"] for f in frames] == list(range(1, len(frames) + 1))
    assert [f["event"] for f in frames[:-1]] == ["tutor.delta"] * (len(frames) - 1)
    assert frames[-1]["event"] == "tutor.completed" and len(rest) > 1
    assert all(f["data"]["seq"] == f["id"] for f in frames)
    text = "".join(f["data"]["text"] for f in frames[:-1])
    assert text == frames[-1]["data"]["message"]["body"] == REPLY
    # Resuming after the end gets nothing but the end; after a delta, the rest.
    again = await sse(http, web_b, token, run_id, len(frames) - 1)
    assert [await read_frame(again), await read_frame(again)] == [frames[-1], None]
    again.close()
