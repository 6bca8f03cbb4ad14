"""Streamed chat: pieces in order, failover before the first token, none after it."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Sequence
from contextlib import aclosing

import pytest

from server.tutor.gateway.client import (
    AIGateway,
    Delta,
    Finish,
    Piece,
    ProviderFailed,
    Started,
    Usage,
)
from server.tutor.gateway.providers import Provider, Route
from tests.fakes.ai_provider import FakeAIProvider, Script, prompt_tokens, split_tokens

BOTH = [Route("first", "model-a"), Route("second", "model-b")]
MESSAGES = [
    {"role": "system", "content": "You are a patient tutor."},
    {"role": "user", "content": "什么是光合作用？"},
]
REPLY = "光合作用是植物把光能转化为化学能的过程。 Plants turn light into sugar."


async def collect(
    gateway: AIGateway, routes: Sequence[Route] = BOTH, *, max_tokens: int = 500
) -> list[Piece]:
    async with aclosing(gateway.stream_chat(routes, MESSAGES, max_tokens=max_tokens)) as pieces:
        return [piece async for piece in pieces]


def text_of(pieces: list[Piece]) -> str:
    return "".join(p.text for p in pieces if isinstance(p, Delta))


async def until(condition: Callable[[], bool], seconds: float = 2.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    assert condition(), "condition not met in time"


async def test_deltas_join_into_the_reply_then_finish_and_usage(
    gateway: AIGateway, first: FakeAIProvider
) -> None:
    first.script = Script(reply=REPLY, token_interval=0.001)
    pieces = await collect(gateway)
    assert pieces[0] == Started("first", "model-a")
    assert text_of(pieces) == REPLY
    assert len([p for p in pieces if isinstance(p, Delta)]) == len(split_tokens(REPLY))
    assert pieces[-2:] == [
        Finish("stop"),
        Usage(prompt_tokens=prompt_tokens(MESSAGES), completion_tokens=len(split_tokens(REPLY))),
    ]


async def test_the_provider_is_sent_the_model_messages_and_limits_with_its_key(
    gateway: AIGateway, first: FakeAIProvider
) -> None:
    await collect(gateway, max_tokens=321)
    [call] = first.requests
    assert call.path == "/v1/chat/completions"
    assert call.body == {
        "model": "model-a",
        "messages": MESSAGES,
        "max_tokens": 321,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    assert "Authorization" not in call.headers  # recorded without it; the fake checked it


async def test_max_tokens_cuts_the_reply_and_finishes_with_length(
    gateway: AIGateway, first: FakeAIProvider
) -> None:
    first.script = Script(reply=REPLY)
    pieces = await collect(gateway, max_tokens=5)
    assert text_of(pieces) == "".join(split_tokens(REPLY)[:5])
    assert Finish("length") in pieces
    assert Usage(prompt_tokens(MESSAGES), 5) in pieces


async def test_a_refusal_without_content_is_an_answer_not_a_failure(
    gateway: AIGateway, first: FakeAIProvider, second: FakeAIProvider
) -> None:
    first.script = Script(reply="", finish_reason="content_filter")
    pieces = await collect(gateway)
    assert pieces == [
        Started("first", "model-a"),
        Finish("content_filter"),
        Usage(prompt_tokens(MESSAGES), 0),
    ]
    assert second.requests == []


async def test_no_usage_piece_when_the_provider_reports_none(
    gateway: AIGateway, first: FakeAIProvider
) -> None:
    first.script = Script(reply=REPLY, ignore_usage=True)
    pieces = await collect(gateway)
    assert text_of(pieces) == REPLY
    assert pieces[-1] == Finish("stop")
    assert not [p for p in pieces if isinstance(p, Usage)]


@pytest.mark.parametrize("status", [500, 503, 429, 401])
async def test_an_error_status_fails_over_to_the_next_route(
    gateway: AIGateway, first: FakeAIProvider, second: FakeAIProvider, status: int
) -> None:
    first.script = Script(status=status)
    second.script = Script(reply=REPLY)
    pieces = await collect(gateway)
    assert pieces[0] == Started("second", "model-b")
    assert text_of(pieces) == REPLY
    assert len(first.requests) == 1


async def test_a_refused_connection_fails_over(second: FakeAIProvider) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    gone = Provider("gone", f"http://127.0.0.1:{port}/v1", "sk-gone")
    gateway = AIGateway(
        {"gone": gone, "second": second.provider("second")},
        first_byte_timeout=0.3,
        idle_timeout=0.2,
    )
    try:
        pieces = await collect(gateway, [Route("gone", "m"), Route("second", "model-b")])
    finally:
        await gateway.close()
    assert pieces[0] == Started("second", "model-b")
    assert text_of(pieces) == MESSAGES[-1]["content"]  # the fake echoes by default


async def test_no_response_headers_in_time_fails_over(
    gateway: AIGateway, first: FakeAIProvider, second: FakeAIProvider
) -> None:
    first.script = Script(hang_before_first_byte=True)
    started = time.monotonic()
    pieces = await collect(gateway)
    assert time.monotonic() - started < 1.0
    assert pieces[0] == Started("second", "model-b")
    assert text_of(pieces) == MESSAGES[-1]["content"]


async def test_headers_without_data_in_time_fail_over_after_a_first_started(
    gateway: AIGateway, first: FakeAIProvider
) -> None:
    first.script = Script(reply=REPLY, first_token_delay=1.0)
    pieces = await collect(gateway)
    assert [p for p in pieces if isinstance(p, Started)] == [
        Started("first", "model-a"),
        Started("second", "model-b"),
    ]
    assert text_of(pieces) == MESSAGES[-1]["content"]


@pytest.mark.parametrize("mode", ["drop", "end", "garbage"])
async def test_a_stream_broken_before_any_content_fails_over(
    gateway: AIGateway, first: FakeAIProvider, second: FakeAIProvider, mode: str
) -> None:
    first.script = Script(reply=REPLY, fail_after_tokens=0, fail_mode=mode)
    pieces = await collect(gateway)
    assert pieces[-1] == Usage(prompt_tokens(MESSAGES), len(split_tokens(MESSAGES[-1]["content"])))
    assert text_of(pieces) == MESSAGES[-1]["content"]
    assert len(second.requests) == 1


async def test_a_route_to_an_unknown_provider_is_skipped(
    gateway: AIGateway, second: FakeAIProvider
) -> None:
    pieces = await collect(gateway, [Route("nowhere", "m"), Route("second", "model-b")])
    assert pieces[0] == Started("second", "model-b")


@pytest.mark.parametrize("mode", ["drop", "end", "garbage"])
async def test_no_failover_once_a_token_was_given(
    gateway: AIGateway, first: FakeAIProvider, second: FakeAIProvider, mode: str
) -> None:
    first.script = Script(reply=REPLY, fail_after_tokens=3, fail_mode=mode)
    seen: list[Piece] = []
    with pytest.raises(ProviderFailed) as raised:
        async with aclosing(gateway.stream_chat(BOTH, MESSAGES, max_tokens=500)) as pieces:
            async for piece in pieces:
                seen.append(piece)
    assert raised.value.started is True
    assert raised.value.code == "tutor.provider_failed"
    assert text_of(seen) == "".join(split_tokens(REPLY)[:3])
    assert second.requests == []


async def test_a_provider_going_quiet_mid_reply_is_a_timeout(
    gateway: AIGateway, first: FakeAIProvider, second: FakeAIProvider
) -> None:
    first.script = Script(reply=REPLY, fail_after_tokens=2, fail_mode="stall")
    started = time.monotonic()
    with pytest.raises(ProviderFailed) as raised:
        await collect(gateway)
    assert 0.2 <= time.monotonic() - started < 1.0
    assert (raised.value.code, raised.value.started) == ("tutor.provider_timeout", True)
    assert second.requests == []
    await until(lambda: first.disconnects == 1)


async def test_slow_tokens_within_the_idle_limit_are_not_a_timeout(
    gateway: AIGateway, first: FakeAIProvider
) -> None:
    first.script = Script(reply="one two three four", token_interval=0.1, first_token_delay=0.15)
    assert text_of(await collect(gateway)) == "one two three four"


async def test_every_route_failing_before_a_token_is_unavailable(
    gateway: AIGateway, first: FakeAIProvider, second: FakeAIProvider
) -> None:
    first.script = Script(status=503)
    second.script = Script(status=500)
    with pytest.raises(ProviderFailed) as raised:
        await collect(gateway)
    assert (raised.value.code, raised.value.started) == ("tutor.provider_unavailable", False)
    assert "first: HTTP 503" in raised.value.message
    assert "second: HTTP 500" in raised.value.message


async def test_every_route_timing_out_is_a_timeout(
    gateway: AIGateway, first: FakeAIProvider, second: FakeAIProvider
) -> None:
    first.script = Script(hang_before_first_byte=True)
    second.script = Script(first_token_delay=1.0)
    with pytest.raises(ProviderFailed) as raised:
        await collect(gateway)
    assert (raised.value.code, raised.value.started) == ("tutor.provider_timeout", False)


async def test_no_routes_is_unavailable(gateway: AIGateway) -> None:
    with pytest.raises(ProviderFailed) as raised:
        await collect(gateway, [])
    assert raised.value.code == "tutor.provider_unavailable"


async def test_failure_messages_never_carry_a_key(first: FakeAIProvider) -> None:
    secret = "sk-wrong-key-never-shown-4242"
    wrong = Provider("first", first.provider().base_url, secret)
    gateway = AIGateway({"first": wrong}, first_byte_timeout=0.3, idle_timeout=0.2)
    try:
        with pytest.raises(ProviderFailed) as raised:
            await collect(gateway, [Route("first", "m")])
    finally:
        await gateway.close()
    assert raised.value.message == "No AI provider answered (first: HTTP 401)"
    for shown in (str(raised.value), repr(raised.value), raised.value.message):
        assert secret not in shown and first.api_key not in shown


async def test_closing_the_stream_early_closes_the_providers_connection(
    gateway: AIGateway, first: FakeAIProvider
) -> None:
    first.script = Script(reply=REPLY, token_interval=0.05)
    async with aclosing(gateway.stream_chat(BOTH, MESSAGES, max_tokens=500)) as pieces:
        async for piece in pieces:
            if isinstance(piece, Delta):
                break
    await until(lambda: first.disconnects == 1 and first.open_streams == 0, seconds=1.0)


async def test_cancelling_the_consumer_closes_the_providers_connection(
    gateway: AIGateway, first: FakeAIProvider
) -> None:
    first.script = Script(reply=REPLY, token_interval=0.05)
    got_token = asyncio.Event()

    async def consume() -> None:
        async with aclosing(gateway.stream_chat(BOTH, MESSAGES, max_tokens=500)) as pieces:
            async for piece in pieces:
                if isinstance(piece, Delta):
                    got_token.set()

    task = asyncio.create_task(consume())
    await got_token.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await until(lambda: first.disconnects == 1 and first.open_streams == 0, seconds=1.0)


async def test_many_streams_run_side_by_side_on_one_session(
    first: FakeAIProvider, second: FakeAIProvider
) -> None:
    # Timeouts of seconds: fifty streams opened at once on a busy test machine are slow to start.
    providers = {"first": first.provider("first"), "second": second.provider("second")}
    gateway = AIGateway(providers, first_byte_timeout=10.0, idle_timeout=10.0)
    first.script = Script(reply=REPLY, token_interval=0.005)
    try:
        answers = await asyncio.gather(*(collect(gateway) for _ in range(50)))
    finally:
        await gateway.close()
    assert all(text_of(pieces) == REPLY for pieces in answers)
    assert first.most_open_streams == 50


async def test_a_slow_consumer_is_not_taken_for_a_quiet_provider(
    gateway: AIGateway, first: FakeAIProvider
) -> None:
    first.script = Script(reply=REPLY, token_interval=0.005)
    seen: list[Piece] = []
    async with aclosing(gateway.stream_chat(BOTH, MESSAGES, max_tokens=500)) as pieces:
        async for piece in pieces:
            seen.append(piece)
            if len(seen) == 2:  # the first Delta: dawdle past the idle limit, all sent meanwhile
                await asyncio.sleep(0.6)
    assert text_of(seen) == REPLY
