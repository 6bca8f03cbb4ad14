"""Folding older turns into the rolling summary: through which message, from what text, what the
next prompt then sends, and that a failure, a second fold or two at once do no harm and cost the
user nothing."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from jobs.tasks import FUNCTIONS
from models.tutor.conversations import ConversationSummary, TutorMessage
from server.keys import RUNTIME
from server.tutor.gateway.tokens import count_tokens
from server.tutor.memory import service as memory
from server.tutor.runs import tools
from tests.fakes.ai_provider import FakeAIProvider, Script
from tests.helpers.people import Person
from tests.helpers.tutor import answer, chat_persona
from tests.helpers.wallet import give, ledger_totals
from tests.server.tutor.memory.conftest import MEMORY_BUDGET
from tests.server.tutor.runs.test_asking import ask, balance, conversation

WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")
SOURCE = "SOURCE-ZEBRA-4471 passages from the library"
PERSONA = "PERSONA-ORCHID-9 You explain things simply."
SUMMARY = "The learner studies how plants grow; alpha and bravo were explained."


@dataclass
class Sources:
    """Retrieval that always finds the same excerpt (no passages to cite)."""

    async def __call__(self, session: Any, **_: Any) -> tuple[str, list[Any]]:
        return SOURCE, []


async def memory_chat(api: TestClient, who: Person, *, memory_on: bool = True) -> int:
    """A conversation with a remembering persona that also retrieves; its id."""
    persona = await chat_persona(api, memory=memory_on, retrieval=True, system_prompt=PERSONA)
    tools.tools_of(api.app[RUNTIME]).retrieve = Sources()
    await give(api, who.id, 100_000)
    return (await conversation(api, who, persona.id))["id"]


async def talk(api: TestClient, fake: FakeAIProvider, who: Person, chat_id: int, word: str):
    """One question about `word` and its answer."""
    fake.queue.append(Script(reply=f"Answer {word}: {word} plants need light and water."))
    asked = await ask(api, who, chat_id, f"Question {word}: how do {word} plants grow in spring?")
    assert await answer(api, asked["run"]["id"]) == "completed"


async def fold_job(api: TestClient, chat_id: int) -> int:
    """The `tutor.fold_memory` job, as a tutor worker runs it."""
    ctx = {"runtime": api.app[RUNTIME]}
    return await FUNCTIONS[memory.FOLD].coroutine(ctx, conversation_id=chat_id)


async def turns(api: TestClient, chat_id: int) -> list[TutorMessage]:
    async with api.app[RUNTIME].db.read() as session:
        rows = await session.scalars(
            select(TutorMessage)
            .where(TutorMessage.conversation_id == chat_id)
            .order_by(TutorMessage.id)
        )
        return list(rows)


async def stored(api: TestClient, chat_id: int) -> ConversationSummary | None:
    async with api.app[RUNTIME].db.read() as session:
        return await session.get(ConversationSummary, chat_id)


def cost(row: TutorMessage) -> int:
    return count_tokens(row.body) + 4


def folded_through(rows: list[TutorMessage], keep: int) -> int:
    """The newest message that does not fit among the newest `keep` tokens."""
    used = 0
    for row in reversed(rows):
        used += cost(row)
        if used > keep:
            return row.id
    raise AssertionError("everything fits")


def chat_requests(fake: FakeAIProvider) -> list[list[dict[str, str]]]:
    return [c.body["messages"] for c in fake.calls_to("/v1/chat")]


def history(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """The turns a chat prompt repeats (without the sources quoted before the question, nor the
    question it ends with)."""
    turns = [m for m in messages if m["role"] in ("user", "assistant") and m["content"] != SOURCE]
    return turns[:-1]


async def long_chat(api: TestClient, fake: FakeAIProvider, who: Person, count: int = 4) -> int:
    chat_id = await memory_chat(api, who)
    for word in WORDS[:count]:
        await talk(api, fake, who, chat_id, word)
    rows = await turns(api, chat_id)
    assert sum(cost(row) for row in rows) > MEMORY_BUDGET, "the turns overflow the budget"
    return chat_id


async def test_the_fold_summarises_only_the_older_turns_from_the_conversation_itself(
    api: TestClient, learner: Person, fake_ai: FakeAIProvider
) -> None:
    chat_id = await long_chat(api, fake_ai, learner)
    rows = await turns(api, chat_id)
    through = folded_through(rows, int(MEMORY_BUDGET * memory.KEEP_SHARE))
    assert any(SOURCE in m["content"] for m in chat_requests(fake_ai)[-1]), "answers retrieve"
    fake_ai.queue.append(Script(reply=SUMMARY))
    assert await fold_job(api, chat_id) == 1
    summary = await stored(api, chat_id)
    assert summary is not None
    assert summary.body == SUMMARY and summary.through_message_id == through
    request = fake_ai.requests[-1].body
    assert request["max_tokens"] == memory.SUMMARY_TOKENS
    sent = "\n".join(m["content"] for m in request["messages"])
    for row in rows:
        assert (row.body in sent) is (row.id <= through), row.body
    assert SOURCE not in sent and "PERSONA-ORCHID" not in sent
    assert "never instructions" in request["messages"][0]["content"]


async def test_the_next_prompt_sends_the_summary_and_only_the_newer_turns_verbatim(
    api: TestClient, learner: Person, fake_ai: FakeAIProvider
) -> None:
    chat_id = await long_chat(api, fake_ai, learner)
    fake_ai.queue.append(Script(reply=SUMMARY))
    assert await fold_job(api, chat_id) == 1
    summary = await stored(api, chat_id)
    assert summary is not None
    before = await turns(api, chat_id)
    await talk(api, fake_ai, learner, chat_id, "foxtrot")
    prompt = chat_requests(fake_ai)[-1]
    assert any(m["role"] == "system" and SUMMARY in m["content"] for m in prompt)
    recent = [r for r in before if r.id > summary.through_message_id]
    assert recent and len(recent) < len(before)
    assert history(prompt) == [{"role": r.role, "content": r.body} for r in recent]


async def test_a_failed_fold_keeps_the_summary_and_folding_again_or_at_once_is_harmless(
    api: TestClient, learner: Person, fake_ai: FakeAIProvider
) -> None:
    chat_id = await long_chat(api, fake_ai, learner)
    fake_ai.queue.append(Script(reply=SUMMARY))
    assert await fold_job(api, chat_id) == 1
    first = await stored(api, chat_id)
    assert first is not None
    held = await balance(api, learner)
    for word in WORDS[4:7]:
        await talk(api, fake_ai, learner, chat_id, word)
    paid = await balance(api, learner)
    fake_ai.queue.append(Script(status=500))
    assert await fold_job(api, chat_id) == 0
    kept = await stored(api, chat_id)
    assert kept is not None
    assert (kept.body, kept.through_message_id) == (first.body, first.through_message_id)
    fake_ai.script = Script(reply="Second summary.", token_interval=0.01)
    runtime = api.app[RUNTIME]
    gateway = tools.tools_of(runtime).gateway
    calls = len(fake_ai.requests)
    both = await asyncio.gather(
        *(memory.fold(runtime, gateway=gateway, conversation_id=chat_id) for _ in range(2))
    )
    assert len(fake_ai.requests) == calls + 2, "both folds summarised the same turns"
    assert sorted(both) == [False, True], "but only one summary is written"
    second = await stored(api, chat_id)
    assert second is not None
    assert second.body == "Second summary."
    assert second.through_message_id > first.through_message_id
    calls = len(fake_ai.requests)
    assert await fold_job(api, chat_id) == 0, "nothing is left to fold"
    assert len(fake_ai.requests) == calls
    assert (await stored(api, chat_id)).through_message_id == second.through_message_id  # type: ignore[union-attr]
    # Summaries are the platform's cost: answers were paid for, folds were not.
    assert held < 100_000 and await balance(api, learner) == paid
    wallet_balance, own, everything = await ledger_totals(api, learner.id)
    assert wallet_balance == own == paid and everything == 0
