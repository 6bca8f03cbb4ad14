"""A fake OpenAI-compatible AI provider: chat completions (streamed as server-sent events, or
whole), embeddings and the model list, in OpenAI's wire format, scripted per test.

    fake = await start(FakeAIProvider(), aiohttp_server)
    fake.script = Script(reply="你好 world", token_interval=0.01, fail_after_tokens=2)
    gateway = AIGateway({"fake": fake.provider("fake")}, ...)

Concurrent chats whose order is not known get their scripts from `pick(body)` (None: the queue,
then `script`), e.g. by a marker in the question.
`requests` records what the provider was sent (headers without the key); `disconnects` counts
streams the client walked away from; `open_streams` / `most_open_streams` count live streams.
Also runs alone for benchmarks: `python -m tests.fakes.ai_provider --port 8100 --tokens 500`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import math
import re
import secrets
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from server.tutor.gateway.providers import Provider
from tests.fakes.base import Call, FakeGateway

API_KEY = "sk-fake-provider-7f3c9a1e5b"
DIMENSIONS = 64
_CJK = "\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef"
# One token: a CJK character, a word with the spaces after it, or a run of spaces.
_TOKEN = re.compile(rf"[{_CJK}]|[^\s{_CJK}]+\s*|\s+")
_WORD = re.compile(r"\w+")


def split_tokens(text: str) -> list[str]:
    """The reply as the pieces the fake streams; they join back to the reply exactly."""
    return _TOKEN.findall(text)


def prompt_tokens(messages: list[dict[str, Any]]) -> int:
    """The fake's deterministic prompt count."""
    return sum(len(str(m.get("content") or "")) for m in messages) // 2 + 1


def embedding(text: str) -> list[float]:
    """A unit vector from hashed words and character bigrams: similar texts point alike.

    Rounded to float32 so that the float and base64 encodings carry the same numbers."""
    vector = [0.0] * DIMENSIONS
    folded = text.lower()
    squeezed = "".join(folded.split())
    features = _WORD.findall(folded) + [squeezed[i : i + 2] for i in range(len(squeezed) - 1)]
    for feature in features:
        digest = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "big")
        vector[digest % DIMENSIONS] += 1.0 if (digest >> 32) & 1 else -1.0
    norm = math.sqrt(sum(x * x for x in vector))
    if norm == 0:
        vector[0], norm = 1.0, 1.0
    packed = struct.pack(f"<{DIMENSIONS}f", *(x / norm for x in vector))
    return list(struct.unpack(f"<{DIMENSIONS}f", packed))


@dataclass
class Script:
    """How the fake answers the next chat (and embedding) requests."""

    reply: str | None = None  # None: echo the last user message
    first_token_delay: float = 0.0  # after the headers, before the first chunk
    token_interval: float = 0.0
    status: int | None = None  # answer this HTTP error instead
    hang_before_first_byte: bool = False  # send nothing at all until the client leaves
    fail_after_tokens: int | None = None
    # drop: cut the connection; end: end the body cleanly without finish_reason or [DONE];
    # stall: keep the connection open and silent; garbage: send a chunk that is not JSON.
    fail_mode: str = "drop"
    finish_reason: str = "stop"  # "length" anyway when max_tokens cuts the reply
    ignore_usage: bool = False
    reverse_embeddings: bool = False  # list embedding data last index first


def _error(status: int, message: str, kind: str, code: str | None) -> web.Response:
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return web.json_response(body, status=status)


class FakeAIProvider(FakeGateway):
    def __init__(self, *, api_key: str = API_KEY, models: tuple[str, ...] = ("fake-chat",)):
        super().__init__()
        self.api_key = api_key
        self.models = models
        self.script = Script()
        self.queue: list[Script] = []  # scripts for the next requests, one each, before `script`
        # Chooses a chat request's script from its body (None: the queue, then `script`), for
        # concurrent requests whose order is not known.
        self.pick: Callable[[dict[str, Any]], Script | None] | None = None
        self.requests: list[Call] = self.calls
        self.open_streams = 0
        self.most_open_streams = 0
        self.disconnects = 0
        self.on("POST", "/v1/chat/completions", self._chat)
        self.on("POST", "/v1/embeddings", self._embeddings)
        self.on("GET", "/v1/models", self._models)

    def provider(self, name: str = "fake") -> Provider:
        return Provider(name=name, base_url=f"{self.base_url}/v1", api_key=self.api_key)

    async def _read(self, request: web.Request) -> tuple[dict[str, Any], web.Response | None]:
        raw = await request.read()
        body = orjson.loads(raw) if raw else {}
        headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
        self.calls.append(Call(request.method, request.path, body, headers))
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            message = "Incorrect API key provided."
            return body, _error(401, message, "invalid_request_error", "invalid_api_key")
        return body, None

    def _next_script(self) -> Script:
        return self.queue.pop(0) if self.queue else self.script

    async def _scripted_refusal(
        self, request: web.Request, script: Script
    ) -> web.StreamResponse | None:
        if script.hang_before_first_byte:
            await self._pause(request, 60.0)
            return web.Response(status=504)
        if script.status:
            code = "rate_limit_exceeded" if script.status == 429 else None
            kind = "requests" if script.status == 429 else "server_error"
            return _error(script.status, f"Scripted failure {script.status}", kind, code)
        return None

    async def _pause(self, request: web.Request, seconds: float) -> bool:
        """Sleep up to `seconds`, waking early when the client goes; True when it went."""
        loop = asyncio.get_running_loop()
        until = loop.time() + seconds
        while (left := until - loop.time()) > 0:
            if request.transport is None or request.transport.is_closing():
                break
            await asyncio.sleep(min(left, 0.02))
        if request.transport is None or request.transport.is_closing():
            self.disconnects += 1
            return True
        return False

    async def _chat(self, request: web.Request, _: dict[str, str]) -> web.StreamResponse:
        try:
            return await self._answer_chat(request)
        except asyncio.CancelledError:  # the test server cancels a handler whose client left
            self.disconnects += 1
            raise

    async def _answer_chat(self, request: web.Request) -> web.StreamResponse:
        body, refused = await self._read(request)
        if refused:
            return refused
        picked = self.pick(body) if self.pick is not None else None
        script = picked or self._next_script()
        if refusal := await self._scripted_refusal(request, script):
            return refusal
        messages = body.get("messages") or []
        reply = script.reply
        if reply is None:
            users = [m for m in messages if m.get("role") == "user"]
            reply = str(users[-1].get("content") or "") if users else "Hello from the fake."
        tokens = split_tokens(reply)
        finish = script.finish_reason
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        if limit and len(tokens) > limit:
            tokens, finish = tokens[:limit], "length"
        answer = _Answer(body.get("model", ""), int(self.now().timestamp()), tokens, finish)
        answer.usage = {
            "prompt_tokens": prompt_tokens(messages),
            "completion_tokens": len(tokens),
            "total_tokens": prompt_tokens(messages) + len(tokens),
        }
        if not body.get("stream"):
            await asyncio.sleep(script.first_token_delay)
            return web.json_response(answer.whole())
        with_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return await self._stream(request, script, answer, with_usage and not script.ignore_usage)

    async def _stream(
        self, request: web.Request, script: Script, answer: _Answer, with_usage: bool
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
            }
        )
        await response.prepare(request)
        self.open_streams += 1
        self.most_open_streams = max(self.most_open_streams, self.open_streams)
        try:
            if await self._pause(request, script.first_token_delay):
                return response
            await response.write(answer.event({"role": "assistant", "content": ""}, with_usage))
            for sent, token in enumerate(answer.tokens):
                if sent == script.fail_after_tokens:
                    return await self._fail(request, response, script.fail_mode)
                await response.write(answer.event({"content": token}, with_usage))
                if script.token_interval and await self._pause(request, script.token_interval):
                    return response
            if script.fail_after_tokens is not None and script.fail_after_tokens >= len(
                answer.tokens
            ):
                return await self._fail(request, response, script.fail_mode)
            await response.write(answer.event({}, with_usage, finish=answer.finish))
            if with_usage:
                await response.write(answer.usage_event())
            await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
        except ConnectionResetError:
            self.disconnects += 1
        finally:
            self.open_streams -= 1
        return response

    async def _fail(
        self, request: web.Request, response: web.StreamResponse, mode: str
    ) -> web.StreamResponse:
        if mode == "stall":
            await self._pause(request, 60.0)
        elif mode == "garbage":
            await response.write(b'data: {"choices": [{"delta": {"content": \n\n')
            await response.write_eof()
        elif mode == "end":
            await response.write_eof()
        elif request.transport is not None:
            request.transport.abort()
        return response

    async def _embeddings(self, request: web.Request, _: dict[str, str]) -> web.StreamResponse:
        body, refused = await self._read(request)
        if refused:
            return refused
        script = self._next_script()
        if refusal := await self._scripted_refusal(request, script):
            return refusal
        texts = body.get("input")
        texts = [texts] if isinstance(texts, str) else texts
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            return _error(400, "input must be a string or strings", "invalid_request_error", None)
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        for index, text in enumerate(texts):
            vector: Any = embedding(text)
            if as_base64:
                vector = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": vector})
        if script.reverse_embeddings:
            data.reverse()
        tokens = sum(len(t) // 2 + 1 for t in texts)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        model = body.get("model", "")
        return web.json_response({"object": "list", "data": data, "model": model, "usage": usage})

    async def _models(self, request: web.Request, _: dict[str, str]) -> web.StreamResponse:
        _, refused = await self._read(request)
        if refused:
            return refused
        created = int(self.now().timestamp())
        data = [
            {"id": m, "object": "model", "created": created, "owned_by": "sharestack-fake"}
            for m in self.models
        ]
        return web.json_response({"object": "list", "data": data})


class _Answer:
    """One completion's fixed fields, and its chunks in OpenAI's shape."""

    def __init__(self, model: str, created: int, tokens: list[str], finish: str) -> None:
        self.id = f"chatcmpl-{secrets.token_hex(12)}"
        self.model = model
        self.created = created
        self.tokens = tokens
        self.finish = finish
        self.usage: dict[str, int] = {}

    def _chunk(self, choices: list[dict[str, Any]], usage: Any) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_fake",
            "choices": choices,
            "usage": usage,
        }

    def event(self, delta: dict[str, Any], with_usage: bool, finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        chunk = self._chunk([choice], None)
        if not with_usage:  # OpenAI sends `usage: null` only when usage was asked for
            del chunk["usage"]
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    def usage_event(self) -> bytes:
        return b"data: " + orjson.dumps(self._chunk([], self.usage)) + b"\n\n"

    def whole(self) -> dict[str, Any]:
        message = {"role": "assistant", "content": "".join(self.tokens), "refusal": None}
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": self.finish}
        answer = self._chunk([choice], self.usage)
        answer["object"] = "chat.completion"
        return answer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A fake OpenAI-compatible provider.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--key", default=API_KEY)
    parser.add_argument("--tokens", type=int, default=200, help="tokens in every reply")
    parser.add_argument("--token-interval", type=float, default=0.02)
    parser.add_argument("--first-token-delay", type=float, default=0.3)
    args = parser.parse_args(argv)
    fake = FakeAIProvider(api_key=args.key)
    fake.script = Script(
        reply="".join(f"word{i} " for i in range(args.tokens)),
        token_interval=args.token_interval,
        first_token_delay=args.first_token_delay,
    )
    fake.calls = fake.requests = _Forgetful()  # a long benchmark must not grow memory
    web.run_app(fake.app, host=args.host, port=args.port, print=None)


class _Forgetful(list[Call]):
    def append(self, _: Call) -> None:
        pass


if __name__ == "__main__":
    main()
