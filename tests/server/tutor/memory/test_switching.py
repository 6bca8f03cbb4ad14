"""Memory switched off: nothing is folded and no history or summary is sent; forgetting drops the
summary's text and everything said before, so memory switched on again starts afresh."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from server.keys import RUNTIME
from server.tutor.memory import service as memory
from tests.fakes.ai_provider import FakeAIProvider, Script
from tests.helpers.people import Person, call
from tests.helpers.tutor import chat_persona
from tests.helpers.wallet import give
from tests.server.tutor.memory.test_folding import (
    SUMMARY,
    WORDS,
    chat_requests,
    fold_job,
    history,
    long_chat,
    stored,
    talk,
    turns,
)
from tests.server.tutor.runs.test_asking import conversation


async def switch(api: TestClient, who: Person, chat_id: int, on: bool) -> None:
    path = f"/tutor/conversations/{chat_id}"
    got = await call(api, "PATCH", path, who, 200, json={"memory_enabled": on})
    assert got["memory_enabled"] is on


async def forget(api: TestClient, chat_id: int) -> None:
    runtime = api.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        await memory.forget(uow.session, conversation_id=chat_id, now=runtime.clock.now())


def sends_no_memory(prompt: list[dict[str, str]]) -> bool:
    return history(prompt) == [] and not any("Summary" in m["content"] for m in prompt)


async def test_with_memory_off_nothing_is_folded_and_no_history_or_summary_is_sent(
    api: TestClient, learner: Person, fake_ai: FakeAIProvider
) -> None:
    chat_id = await long_chat(api, fake_ai, learner)
    fake_ai.queue.append(Script(reply=SUMMARY))
    assert await fold_job(api, chat_id) == 1
    await switch(api, learner, chat_id, False)
    for word in WORDS[4:7]:
        await talk(api, fake_ai, learner, chat_id, word)
        assert sends_no_memory(chat_requests(fake_ai)[-1])
    calls = len(fake_ai.requests)
    assert await fold_job(api, chat_id) == 0
    assert len(fake_ai.requests) == calls


async def test_forgetting_drops_the_summary_and_memory_switched_on_again_starts_afresh(
    api: TestClient, learner: Person, fake_ai: FakeAIProvider
) -> None:
    chat_id = await long_chat(api, fake_ai, learner)
    fake_ai.queue.append(Script(reply=SUMMARY))
    assert await fold_job(api, chat_id) == 1
    await switch(api, learner, chat_id, False)
    await forget(api, chat_id)
    forgotten = await stored(api, chat_id)
    newest = (await turns(api, chat_id))[-1].id
    assert forgotten is not None and forgotten.body == ""
    assert forgotten.through_message_id == newest
    await talk(api, fake_ai, learner, chat_id, "echo")  # said with memory off
    await switch(api, learner, chat_id, True)
    await forget(api, chat_id)
    await talk(api, fake_ai, learner, chat_id, "foxtrot")
    assert sends_no_memory(chat_requests(fake_ai)[-1]), "nothing from before is sent"
    await talk(api, fake_ai, learner, chat_id, "golf")
    recent = chat_requests(fake_ai)[-1]
    assert [m["content"] for m in history(recent)] == [
        "Question foxtrot: how do foxtrot plants grow in spring?",
        "Answer foxtrot: foxtrot plants need light and water.",
    ]
    assert not any("Summary" in m["content"] for m in recent)


async def test_forgetting_a_conversation_with_no_messages_leaves_no_summary(
    api: TestClient, learner: Person
) -> None:
    persona = await chat_persona(api, memory=True)
    await give(api, learner.id, 1_000)
    chat_id = (await conversation(api, learner, persona.id))["id"]
    await forget(api, chat_id)
    assert await stored(api, chat_id) is None


async def test_a_persona_without_memory_is_never_folded(
    api: TestClient, learner: Person, fake_ai: FakeAIProvider
) -> None:
    persona = await chat_persona(api, memory=False)
    await give(api, learner.id, 100_000)
    chat = await conversation(api, learner, persona.id)
    assert chat["memory_enabled"] is False
    await switch(api, learner, chat["id"], True)  # the user cannot outvote the persona
    for word in WORDS[:4]:
        await talk(api, fake_ai, learner, chat["id"], word)
    calls = len(fake_ai.requests)
    assert await fold_job(api, chat["id"]) == 0
    assert len(fake_ai.requests) == calls
    assert await stored(api, chat["id"]) is None
