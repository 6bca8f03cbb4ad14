"""B9's load side: a fake OpenAI-compatible provider that stamps each token's send time, the
clients of the three peers, and per-byte latency from those stamps.

The fake and the clients run in one event loop (the bench process, on the load CPU), so the
fake's send times and the clients' receive times are read from one clock (``perf_counter``; the
loop's own clock is in whole milliseconds under uvloop). The fake streams every reply in
OpenAI's wire format (as tests/fakes/ai_provider.py does: a role chunk, one chunk per token, the
finish chunk, usage, ``[DONE]``). Its tokens are sent by one ticker rather than a sleep per
stream: every ``TICK`` it writes the next token of the streams whose turn it is (a stream keeps
the phase its first token fell on), so that 1,000 streams at 50 tokens/s cost the load CPU
50,000 writes a second and not also 50,000 timer wake-ups. A reply is known by the key its
question carries (``b9:<key>``).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from aiohttp import web

TOKEN_INTERVAL = 0.02  # 50 tokens/s
FIRST_TOKEN_DELAY = 0.3
TICK = 0.002
SLOTS = round(TOKEN_INTERVAL / TICK)
API_KEY = "sk-bench-b9-" + secrets.token_hex(8)
MODEL = "fake-chat"
_KEY = re.compile(r"b9:(\S+)")


def question(key: str) -> str:
    return f"Explain step {key.split('.')[-1]} again, please. b9:{key}"


def reply_tokens(count: int) -> list[bytes]:
    """The reply, one token a piece (as the test fake's `--tokens` reply: `word<i> `)."""
    return [f"word{i} ".encode() for i in range(count)]


@dataclass
class Sent:
    """One reply as the fake sent it: each token's bytes and its send time."""

    tokens: list[bytes]
    times: list[float] = field(default_factory=list)


class _Stream:
    def __init__(
        self, request: web.Request, response: web.StreamResponse, sent: Sent, request_id: str
    ) -> None:
        self.request = request
        self.response = response
        self.sent = sent
        self.head = {
            "id": request_id,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": MODEL,
            "system_fingerprint": "fp_fake",
        }
        self.next = 0
        self.start_tick = 0
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def event(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return b"data: " + orjson.dumps({**self.head, "choices": [choice], "usage": None}) + b"\n\n"

    def ending(self) -> bytes:
        count = len(self.sent.tokens)
        usage = {"prompt_tokens": 40, "completion_tokens": count, "total_tokens": 40 + count}
        tail = orjson.dumps({**self.head, "choices": [], "usage": usage})
        return self.event({}, "stop") + b"data: " + tail + b"\n\n" + b"data: [DONE]\n\n"


class StampingFake:
    """POST /v1/chat/completions (streamed), GET /healthz; `sent[key]` records each reply."""

    def __init__(self, tokens: int) -> None:
        self.tokens = reply_tokens(tokens)
        self.sent: dict[str, Sent] = {}
        self.slots: list[list[_Stream]] = [[] for _ in range(SLOTS)]
        self.app = web.Application()
        self.app.router.add_post("/v1/chat/completions", self._chat)
        self.app.router.add_get("/healthz", self._health)
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._t0 = 0.0
        self._tick = 0

    async def start(self, host: str, port: int) -> None:
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port, backlog=4096, reuse_address=True).start()
        self._t0 = asyncio.get_running_loop().time()
        self._ticker = asyncio.create_task(self._run_ticker())

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _health(self, _: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return web.json_response({"error": {"message": "bad key"}}, status=401)
        body = orjson.loads(await request.read())
        messages = body.get("messages") or []
        found = _KEY.search(str(messages[-1].get("content") or "")) if messages else None
        key = found.group(1) if found else f"unknown-{secrets.token_hex(4)}"
        limit = body.get("max_completion_tokens") or body.get("max_tokens") or len(self.tokens)
        sent = self.sent[key] = Sent(self.tokens[: int(limit)])
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
            }
        )
        await response.prepare(request)
        stream = _Stream(request, response, sent, f"chatcmpl-{secrets.token_hex(12)}")
        due = asyncio.get_running_loop().time() + FIRST_TOKEN_DELAY
        stream.start_tick = max(self._tick + 1, int((due - self._t0) / TICK) + 1)
        self.slots[stream.start_tick % SLOTS].append(stream)
        await stream.done
        with contextlib.suppress(ConnectionError):  # the reader left before the end
            await response.write_eof()
        return response

    async def _run_ticker(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._tick += 1
            delay = self._t0 + self._tick * TICK - loop.time()
            if delay > 0:  # behind (an overloaded load CPU): catch up without sleeping
                await asyncio.sleep(delay)
            slot = self.slots[self._tick % SLOTS]
            if slot:
                await self._turn(slot, loop)

    async def _turn(self, slot: list[_Stream], loop: asyncio.AbstractEventLoop) -> None:
        for stream in list(slot):
            if stream.start_tick > self._tick:
                continue
            transport = stream.request.transport
            if transport is None or transport.is_closing():
                slot.remove(stream)
                stream.done.set_result(None)
                continue
            index = stream.next
            sent = stream.sent
            if index < len(sent.tokens):
                data = stream.event({"content": sent.tokens[index].decode()})
                if index == 0:
                    data = stream.event({"role": "assistant", "content": ""}) + data
                sent.times.append(time.perf_counter())
                stream.next += 1
            else:
                data = stream.ending()
                slot.remove(stream)
            try:
                # Without waiting for the reader to drain: a real provider's streams are
                # independent, so one slow reader must not hold up every other stream.
                writer = stream.response._payload_writer
                assert writer is not None
                await writer.write(data, drain=False)
            except (ConnectionError, RuntimeError):
                if stream in slot:
                    slot.remove(stream)
            if stream not in slot and not stream.done.done():
                stream.done.set_result(None)


# -- what a client received, and latency per byte -----------------------------------------------


@dataclass
class Received:
    """One run as a client saw it: (receive time, text bytes) per delta, and how it ended."""

    key: str
    pieces: list[tuple[float, bytes]] = field(default_factory=list)
    ended: bool = False
    error: str | None = None
    finished: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, at: float, text: bytes) -> None:
        if text:
            self.pieces.append((at, text))

    def end(self, error: str | None = None) -> None:
        self.ended = True
        self.error = self.error or error
        self.finished.set()


def byte_latencies(sent: Sent, received: list[tuple[float, bytes]]) -> Iterable[tuple[float, int]]:
    """(receive - send seconds, bytes) for every stretch of bytes sent in one token and
    received in one delta."""
    token, offset_in_token = 0, 0
    for at, text in received:
        left = len(text)
        while left > 0 and token < len(sent.tokens):
            size = len(sent.tokens[token]) - offset_in_token
            take = min(size, left)
            yield at - sent.times[token], take
            left -= take
            offset_in_token += take
            if offset_in_token == len(sent.tokens[token]):
                token, offset_in_token = token + 1, 0


@dataclass
class StepFigures:
    """What one peer did in one step: per-byte and first-token latency over its runs."""

    runs: int
    completed: int = 0
    errors: int = 0
    error_kinds: Counter[str] = field(default_factory=Counter)  # a short account -> runs
    # added latency in 0.1 ms bins -> bytes
    per_byte: Counter[int] = field(default_factory=Counter)
    ttft_ms: list[float] = field(default_factory=list)
    load_cpu_share: float = 0.0
    elapsed_s: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)

    def error(self, text: str) -> None:
        self.errors += 1
        self.error_kinds[text[:48]] += 1

    def per_byte_pct(self, share: float) -> float | None:
        total = sum(self.per_byte.values())
        if not total:
            return None
        wanted, seen = share * total, 0
        for bin_, count in sorted(self.per_byte.items()):
            seen += count
            if seen >= wanted:
                return bin_ / 10
        return max(self.per_byte) / 10

    def ttft_pct(self, share: float) -> float | None:
        data = sorted(self.ttft_ms)
        return data[min(len(data) - 1, int(share * len(data)))] if data else None


def account(
    figures: StepFigures, fake: StampingFake, runs: list[Received], interval_s: float
) -> None:
    """Fold each run into `figures`: complete and intact runs count; latencies are measured
    beyond `interval_s` (the coalescing interval), never below 0."""
    for run in runs:
        sent = fake.sent.get(run.key)
        if run.error or not run.ended:
            figures.error(run.error or "no end within the time limit")
            continue
        if sent is None:
            figures.error("the provider was never asked")
            continue
        text = b"".join(piece for _, piece in run.pieces)
        if text != b"".join(sent.tokens) or len(sent.times) != len(sent.tokens):
            figures.error(f"text differs ({len(text)} of {sum(map(len, sent.tokens))} bytes)")
            continue
        figures.completed += 1
        for seconds, size in byte_latencies(sent, run.pieces):
            figures.per_byte[max(0, round((seconds - interval_s) * 10_000))] += size
        if run.pieces and sent.times:
            figures.ttft_ms.append((run.pieces[0][0] - sent.times[0]) * 1000)


# -- clients reading server-sent events (the floor and the peer) --------------------------------


async def read_openai_sse(response: aiohttp.ClientResponse, run: Received) -> None:
    """Chunks in OpenAI's shape until `[DONE]`; each delta's text stamped on arrival."""
    buffer = b""
    async for data in response.content.iter_any():
        now = time.perf_counter()
        buffer += data
        while b"\n\n" in buffer:
            event, buffer = buffer.split(b"\n\n", 1)
            for line in event.split(b"\n"):
                if not line.startswith(b"data:"):
                    continue
                payload = line[5:].strip()
                if payload == b"[DONE]":
                    run.end()
                    return
                chunk = orjson.loads(payload)
                for choice in chunk.get("choices") or ():
                    content = (choice.get("delta") or {}).get("content")
                    if content:
                        run.add(now, content.encode())
    run.end("the stream ended without [DONE]")


async def sse_run(
    session: aiohttp.ClientSession,
    url: str,
    body: dict[str, Any],
    headers: dict[str, str],
    run: Received,
) -> None:
    try:
        async with session.post(url, json=body, headers=headers) as response:
            if response.status != 200:
                run.end(f"HTTP {response.status}")
                return
            await read_openai_sse(response, run)
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        run.end(f"{type(exc).__name__}: {str(exc)[:80]}")
