"""The stream reader takes server-sent events as the standard frames them, however the bytes
arrive: lines split across network chunks, CRLF line ends, comments, data over several lines."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import aclosing

import orjson
from aiohttp import web

from server.tutor.gateway.client import AIGateway, Delta, Finish, Piece, Started, Usage
from server.tutor.gateway.providers import Route
from tests.fakes.ai_provider import FakeAIProvider

BOTH = [Route("first", "model-a"), Route("second", "model-b")]
MESSAGES = [{"role": "user", "content": "你好"}]


def event(chunk: dict[str, object], end: bytes = b"\n") -> bytes:
    return b"data: " + orjson.dumps(chunk) + end + end


def content(text: str) -> dict[str, object]:
    return {
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"content": text}}],
    }


def raw_stream(
    parts: list[bytes], pause: float = 0.0
) -> Callable[[web.Request, dict[str, str]], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request, _: dict[str, str]) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for part in parts:
            await response.write(part)
            await asyncio.sleep(pause)
        await response.write_eof()
        return response

    return handler


async def collect(gateway: AIGateway) -> list[Piece]:
    async with aclosing(gateway.stream_chat(BOTH, MESSAGES, max_tokens=50)) as pieces:
        return [piece async for piece in pieces]


async def test_lines_split_across_chunks_with_crlf_and_comments(
    gateway: AIGateway, first: FakeAIProvider
) -> None:
    finish = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    usage = {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 3}}
    wire = b"".join(
        [
            b": keep-alive\r\n\r\n",
            event(content("你"), b"\r\n"),
            b"event: message\r\nid: 2\r\n" + event(content("好，"), b"\r\n"),
            # one event's data on two lines: joined with a newline, still JSON
            b'data: {"choices": [{"index": 0,\r\ndata:"delta": {"content": "world"}}]}\r\n\r\n',
            event(finish, b"\r\n"),
            event(usage, b"\r\n"),
            b"data: [DONE]\r\n\r\n",
        ]
    )
    parts = [wire[i : i + 7] for i in range(0, len(wire), 7)]
    first.on("POST", "/v1/chat/completions", raw_stream(parts, pause=0.0005))
    pieces = await collect(gateway)
    assert pieces == [
        Started("first", "model-a"),
        Delta("你"),
        Delta("好，"),
        Delta("world"),
        Finish("stop"),
        Usage(7, 3),
    ]


async def test_a_finish_without_done_completes_the_reply(
    gateway: AIGateway, first: FakeAIProvider, second: FakeAIProvider
) -> None:
    finish = {"choices": [{"index": 0, "delta": {"content": "!"}, "finish_reason": "length"}]}
    first.on("POST", "/v1/chat/completions", raw_stream([event(content("Hi")), event(finish)]))
    pieces = await collect(gateway)
    assert pieces[1:] == [Delta("Hi"), Delta("!"), Finish("length")]
    assert second.requests == []


async def test_an_error_event_before_content_fails_over(
    gateway: AIGateway, first: FakeAIProvider
) -> None:
    error = {"error": {"message": "overloaded", "type": "server_error", "code": None}}
    first.on("POST", "/v1/chat/completions", raw_stream([event(error)]))
    pieces = await collect(gateway)
    assert [p for p in pieces if isinstance(p, Started)][-1] == Started("second", "model-b")
    assert "".join(p.text for p in pieces if isinstance(p, Delta)) == "你好"


async def test_keep_alive_comments_alone_do_not_meet_the_first_byte_deadline(
    gateway: AIGateway, first: FakeAIProvider
) -> None:
    first.on("POST", "/v1/chat/completions", raw_stream([b": waiting\n\n"] * 40, pause=0.025))
    pieces = await collect(gateway)
    assert [p for p in pieces if isinstance(p, Started)][-1] == Started("second", "model-b")
