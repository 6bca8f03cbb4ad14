"""The official openai client reads the fake exactly as our gateway does: a shared misreading of
OpenAI's wire format (by the fake and the gateway alike) cannot pass unnoticed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing

import openai
import pytest
from openai import AsyncOpenAI

from server.tutor.gateway.client import AIGateway, Delta, Finish, Usage
from server.tutor.gateway.providers import Route
from tests.fakes.ai_provider import FakeAIProvider, Script

MESSAGES = [
    {"role": "system", "content": "You are a patient tutor."},
    {"role": "user", "content": "讲讲勾股定理"},
]
REPLY = "勾股定理：直角三角形两条直角边的平方和等于斜边的平方。 a² + b² = c²."
TEXTS = ["勾股定理", "Pythagorean theorem", "直角三角形的斜边"]


@pytest.fixture
async def official(first: FakeAIProvider) -> AsyncIterator[AsyncOpenAI]:
    client = AsyncOpenAI(base_url=f"{first.base_url}/v1", api_key=first.api_key, max_retries=0)
    yield client
    await client.close()


async def test_a_streamed_chat_reads_the_same_through_both_clients(
    gateway: AIGateway, first: FakeAIProvider, official: AsyncOpenAI
) -> None:
    first.script = Script(reply=REPLY, finish_reason="stop")
    stream = await official.chat.completions.create(  # type: ignore[call-overload]
        model="model-a",
        messages=MESSAGES,
        max_tokens=500,
        stream=True,
        stream_options={"include_usage": True},
    )
    text, finishes, usages = "", [], []
    async for chunk in stream:
        assert chunk.object == "chat.completion.chunk" and chunk.model == "model-a"
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            finishes += [chunk.choices[0].finish_reason] if chunk.choices[0].finish_reason else []
        if chunk.usage:
            usages.append((chunk.usage.prompt_tokens, chunk.usage.completion_tokens))

    route = [Route("first", "model-a")]
    async with aclosing(gateway.stream_chat(route, MESSAGES, max_tokens=500)) as pieces:
        ours = [piece async for piece in pieces]
    assert text == REPLY == "".join(p.text for p in ours if isinstance(p, Delta))
    assert [Finish(reason) for reason in finishes] == [p for p in ours if isinstance(p, Finish)]
    assert [Usage(*usage) for usage in usages] == [p for p in ours if isinstance(p, Usage)]
    assert len(usages) == 1 and usages[0][1] > 0


async def test_embeddings_read_the_same_through_both_clients(
    gateway: AIGateway, first: FakeAIProvider, official: AsyncOpenAI
) -> None:
    first.script = Script(reverse_embeddings=True)
    answer = await official.embeddings.create(model="embed-a", input=TEXTS)  # base64 by default
    ours = await gateway.embed([Route("first", "embed-a")], TEXTS)
    assert [item.embedding for item in sorted(answer.data, key=lambda d: d.index)] == ours.vectors
    assert answer.usage.prompt_tokens == ours.prompt_tokens


async def test_a_whole_completion_and_the_model_list_parse(
    first: FakeAIProvider, official: AsyncOpenAI
) -> None:
    first.script = Script(reply=REPLY)
    completion = await official.chat.completions.create(
        model="model-a",
        messages=MESSAGES,  # type: ignore[arg-type]
        max_tokens=3,
    )
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None and completion.usage.completion_tokens == 3
    assert [model.id async for model in official.models.list()] == ["fake-chat"]


async def test_a_wrong_key_is_refused_in_openais_error_shape(first: FakeAIProvider) -> None:
    client = AsyncOpenAI(base_url=f"{first.base_url}/v1", api_key="sk-wrong", max_retries=0)
    try:
        with pytest.raises(openai.AuthenticationError) as raised:
            await client.models.list()
    finally:
        await client.close()
    assert raised.value.code == "invalid_api_key"
