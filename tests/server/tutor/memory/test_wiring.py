"""Memory wired into runs and conversations: a stored answer queues a fold on the tutor queue
(when the conversation remembers); switching memory forgets what was said."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from jobs.sinks import queue_names
from server.keys import RUNTIME
from server.outbox import TUTOR_QUEUE
from server.tutor.memory import service as memory
from tests.fakes.ai_provider import FakeAIProvider, Script
from tests.helpers.people import Person
from tests.helpers.tutor import chat_persona
from tests.helpers.wallet import give
from tests.server.tutor.memory.test_folding import (
    SUMMARY,
    fold_job,
    long_chat,
    memory_chat,
    stored,
    talk,
    turns,
)
from tests.server.tutor.memory.test_switching import switch
from tests.server.tutor.runs.test_asking import conversation


async def queued_folds(api: TestClient, chat_id: int, message_id: int) -> bool:
    runtime = api.app[RUNTIME]
    settings = runtime.settings
    job_id = memory.fold_job_id(chat_id, message_id)
    tutor_queue = queue_names(settings)[TUTOR_QUEUE]
    score = await runtime.redis.zscore(tutor_queue, f"{settings.key_prefix}:{job_id}")
    return score is not None


async def test_a_stored_answer_queues_a_fold_when_the_conversation_remembers(
    api: TestClient, learner: Person, fake_ai: FakeAIProvider
) -> None:
    chat_id = await memory_chat(api, learner)
    await talk(api, fake_ai, learner, chat_id, "alpha")
    assert await queued_folds(api, chat_id, (await turns(api, chat_id))[-1].id)
    await switch(api, learner, chat_id, False)
    await talk(api, fake_ai, learner, chat_id, "bravo")
    assert not await queued_folds(api, chat_id, (await turns(api, chat_id))[-1].id)
    forgetful = await chat_persona(api, memory=False)
    await give(api, learner.id, 1_000)
    other = (await conversation(api, learner, forgetful.id))["id"]
    await talk(api, fake_ai, learner, other, "charlie")
    assert not await queued_folds(api, other, (await turns(api, other))[-1].id)


async def test_switching_memory_off_forgets_the_summary(
    api: TestClient, learner: Person, fake_ai: FakeAIProvider
) -> None:
    chat_id = await long_chat(api, fake_ai, learner)
    fake_ai.queue.append(Script(reply=SUMMARY))
    assert await fold_job(api, chat_id) == 1
    await switch(api, learner, chat_id, False)
    forgotten = await stored(api, chat_id)
    assert forgotten is not None and forgotten.body == ""
    assert forgotten.through_message_id == (await turns(api, chat_id))[-1].id
