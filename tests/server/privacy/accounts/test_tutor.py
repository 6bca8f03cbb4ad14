"""The AI tutor in an account's export and erasure: the user's conversations (with messages and
summaries) and usage go into `tutor.json`, and erasure removes them, leaving others' alone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import event, func, select

from models.tutor.catalog import Persona, TutorModel, TutorQuota
from models.tutor.conversations import Conversation, ConversationSummary, TutorMessage
from models.tutor.runs import TutorRun, TutorUsage
from server.keys import RUNTIME
from server.privacy.accounts import tutor
from server.tutor.quotas import service as quotas
from tests.helpers.accounts import run_task
from tests.helpers.auth import PASSWORD, bearer, register
from tests.helpers.env import on_both_engines
from tests.server.privacy.accounts.test_domains import build

CITATION = {"content_id": 7, "anchor": "p-3", "title": "On tea"}


@dataclass
class Learner:
    user_id: int
    headers: dict[str, str]
    other_id: int
    conversation_id: int
    model_id: int


async def a_conversation(session: Any, *, user_id: int, persona_id: int, model_id: int) -> int:
    conversation = Conversation(user_id=user_id, persona_id=persona_id, title=f"Tea {user_id}")
    session.add(conversation)
    await session.flush()
    question = TutorMessage(
        conversation_id=conversation.id, user_id=user_id, role="user", body=f"why tea {user_id}?"
    )
    session.add(question)
    await session.flush()
    answer = TutorMessage(
        conversation_id=conversation.id,
        user_id=user_id,
        role="assistant",
        body=f"because {user_id}",
        citations=[CITATION],
        usage={"prompt_tokens": 120, "completion_tokens": 30},
        cost_credits=1,
        finish_reason="stop",
    )
    session.add(answer)
    await session.flush()
    session.add_all(
        [
            ConversationSummary(
                conversation_id=conversation.id,
                body="Asked about tea",
                through_message_id=answer.id,
            ),
            TutorRun(
                conversation_id=conversation.id,
                user_id=user_id,
                client_message_id="c-1",
                user_message_id=question.id,
                assistant_message_id=answer.id,
                model_id=model_id,
                status="completed",
                max_tokens=256,
                prompt_estimate=120,
                hold_credits=2,
            ),
        ]
    )
    return int(conversation.id)


async def learner(api: TestClient) -> Learner:
    """Ann talked with a persona and has usage and a quota of her own; Bob too."""
    runtime = api.app[RUNTIME]
    signed_in = await register(api, email="ann@example.com")
    user_id = signed_in["user"]["id"]
    other_id = (await register(api, email="bob@example.com"))["user"]["id"]
    today = quotas.business_day(runtime.clock.now(), runtime.settings)
    async with runtime.db.unit_of_work() as uow:
        s = uow.session
        model = TutorModel(name="chat", kind="chat", routes=[], prompt_credits_per_1k=1)
        s.add(model)
        await s.flush()
        persona = Persona(name="Lu Yu", system_prompt="PROMPT", model_id=model.id, status="active")
        s.add(persona)
        await s.flush()
        ids = {
            who: await a_conversation(s, user_id=who, persona_id=persona.id, model_id=model.id)
            for who in (user_id, other_id)
        }
        for who in (user_id, other_id):
            await quotas.record_usage(
                s,
                user_id=who,
                model_id=model.id,
                day=today,
                prompt_tokens=120,
                completion_tokens=30,
                cost_credits=1,
            )
            s.add(TutorQuota(subject_type="user", subject=str(who), tokens_per_day=10))
    return Learner(
        user_id, bearer(signed_in["access_token"]), other_id, ids[user_id], int(model.id)
    )


async def test_the_export_holds_the_users_tutor_conversations_and_usage(api: TestClient) -> None:
    ann = await learner(api)
    docs = await build(api, ann.headers)
    document = docs["tutor.json"]
    [conversation] = document["conversations"]
    assert (conversation["id"], conversation["persona"]) == (ann.conversation_id, "Lu Yu")
    assert conversation["title"] == f"Tea {ann.user_id}"
    assert conversation["summary"]["body"] == "Asked about tea"
    question, answer = conversation["messages"]
    assert (question["role"], question["body"]) == ("user", f"why tea {ann.user_id}?")
    assert answer["citations"] == [CITATION] and answer["finish_reason"] == "stop"
    assert answer["usage"] == {"prompt_tokens": 120, "completion_tokens": 30}
    assert answer["cost_credits"] == 1 and answer["created_at"]
    [usage] = document["usage"]
    assert (usage["model"], usage["runs"], usage["prompt_tokens"]) == ("chat", 1, 120)
    text = str(document)
    assert f"because {ann.other_id}" not in text and "PROMPT" not in text


async def test_the_tutor_section_is_three_queries_whatever_the_rows(api: TestClient) -> None:
    ann = await learner(api)
    runtime = api.app[RUNTIME]
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    engine = runtime.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        async with runtime.db.read() as session:
            await tutor.tutor_of(session, user_id=ann.user_id)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 3


async def counts(api: TestClient, user_id: int) -> dict[str, int]:
    mine = {
        "conversations": select(func.count()).where(Conversation.user_id == user_id),
        "messages": select(func.count()).where(TutorMessage.user_id == user_id),
        "runs": select(func.count()).where(TutorRun.user_id == user_id),
        "usage": select(func.count()).where(TutorUsage.user_id == user_id),
        "quota": select(func.count()).where(TutorQuota.subject == str(user_id)),
        "summaries": select(func.count())
        .select_from(ConversationSummary)
        .join(Conversation, Conversation.id == ConversationSummary.conversation_id)
        .where(Conversation.user_id == user_id),
    }
    async with api.app[RUNTIME].db.read() as session:
        return {name: int(await session.scalar(query) or 0) for name, query in mine.items()}


@on_both_engines
async def test_erasure_removes_the_users_tutor_data_and_only_theirs(api: TestClient) -> None:
    ann = await learner(api)
    everything = dict.fromkeys(
        ("conversations", "messages", "runs", "usage", "quota", "summaries"), 1
    )
    everything["messages"] = 2
    assert await counts(api, ann.user_id) == everything
    async with api.app[RUNTIME].db.read() as session:
        before = await tutor.tutor_of(session, user_id=ann.user_id)
    assert len(before["conversations"][0]["messages"]) == 2 and len(before["usage"]) == 1
    response = await api.post(
        "/api/v1/me/delete", json={"password": PASSWORD, "confirm": "DELETE"}, headers=ann.headers
    )
    assert response.status == 202
    assert await run_task(api, "accounts.erase", user_id=ann.user_id) is True
    assert await counts(api, ann.user_id) == dict.fromkeys(everything, 0)
    async with api.app[RUNTIME].db.read() as session:
        after = await tutor.tutor_of(session, user_id=ann.user_id)
    assert after == {"conversations": [], "usage": []}
    assert await counts(api, ann.other_id) == everything
    # The catalogue is nobody's personal data: it stays.
    async with api.app[RUNTIME].db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Persona)) == 1
    assert await run_task(api, "accounts.erase", user_id=ann.user_id) is True
    assert await counts(api, ann.other_id) == everything
