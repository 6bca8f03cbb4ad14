"""Embeddings: one vector per text in the texts' order, from the first route that answers."""

from __future__ import annotations

import math

import pytest
from aiohttp import web

from server.tutor.gateway.client import AIGateway, Embedded, ProviderFailed
from server.tutor.gateway.providers import Route
from tests.fakes.ai_provider import DIMENSIONS, FakeAIProvider, Script, embedding

BOTH = [Route("first", "embed-a"), Route("second", "embed-b")]
TEXTS = ["光合作用把光能转化为化学能", "Plants turn light into sugar", "牛顿第二定律"]


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / math.hypot(*a) / math.hypot(*b)


async def test_vectors_come_back_in_the_order_of_the_texts(
    gateway: AIGateway, first: FakeAIProvider
) -> None:
    first.script = Script(reverse_embeddings=True)
    embedded = await gateway.embed(BOTH, TEXTS)
    assert embedded == Embedded(
        vectors=[embedding(text) for text in TEXTS],
        prompt_tokens=sum(len(t) // 2 + 1 for t in TEXTS),
        provider="first",
        upstream_model="embed-a",
    )
    assert all(len(v) == DIMENSIONS for v in embedded.vectors)
    [call] = first.requests
    assert (call.path, call.body) == ("/v1/embeddings", {"model": "embed-a", "input": TEXTS})


async def test_the_fakes_vectors_place_similar_texts_closer(gateway: AIGateway) -> None:
    texts = ["光合作用把光能转化为化学能", "光合作用把光能变成化学能", "牛顿第二定律描述力与加速度"]
    near, same, far = (await gateway.embed(BOTH, texts)).vectors
    assert cosine(near, same) > cosine(near, far)


@pytest.mark.parametrize("script", [Script(status=500), Script(status=429)])
async def test_a_failing_route_fails_over(
    gateway: AIGateway, first: FakeAIProvider, second: FakeAIProvider, script: Script
) -> None:
    first.script = script
    embedded = await gateway.embed(BOTH, TEXTS)
    assert (embedded.provider, embedded.upstream_model) == ("second", "embed-b")
    assert embedded.vectors == [embedding(text) for text in TEXTS]


async def test_a_route_with_no_answer_in_time_fails_over(
    gateway: AIGateway, first: FakeAIProvider
) -> None:
    first.script = Script(hang_before_first_byte=True)
    assert (await gateway.embed(BOTH, TEXTS)).provider == "second"


async def test_every_route_failing_raises_unavailable(
    gateway: AIGateway, first: FakeAIProvider, second: FakeAIProvider
) -> None:
    first.script = Script(status=503)
    second.script = Script(status=503)
    with pytest.raises(ProviderFailed) as raised:
        await gateway.embed(BOTH, TEXTS)
    assert (raised.value.code, raised.value.started) == ("tutor.provider_unavailable", False)
    assert first.api_key not in raised.value.message


async def test_nothing_to_embed_asks_no_provider(gateway: AIGateway, first: FakeAIProvider) -> None:
    assert (await gateway.embed(BOTH, [])).vectors == []
    assert first.requests == []


async def test_vectors_not_in_float_format_fail_over(
    gateway: AIGateway, first: FakeAIProvider
) -> None:
    async def base64_only(request: web.Request, _: dict[str, str]) -> web.StreamResponse:
        data = [{"object": "embedding", "index": i, "embedding": "AAAA"} for i in range(3)]
        return web.json_response({"object": "list", "data": data, "usage": {}})

    first.on("POST", "/v1/embeddings", base64_only)
    assert (await gateway.embed(BOTH, TEXTS)).provider == "second"
