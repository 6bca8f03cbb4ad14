"""Asking the tutor: what is checked before a run is queued, and the hold on the wallet."""

from __future__ import annotations

import itertools

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from models.tutor.runs import TutorRun
from server.keys import RUNTIME
from tests.fakes.ai_provider import FakeAIProvider, Script
from tests.helpers.people import Person, call
from tests.helpers.tutor import chat_persona
from tests.helpers.wallet import give, ledger_totals

_cmids = itertools.count(1)
SCAM = "快来 刷单返利 赚钱"


async def conversation(api: TestClient, who: Person, persona_id: int) -> dict:
    return await call(
        api, "POST", "/tutor/conversations", who, 201, json={"persona_id": persona_id}
    )


async def ask(
    api: TestClient, who: Person, conversation_id: int, body: str, status: int = 202, **extra
) -> dict:
    payload = {"client_message_id": extra.pop("cmid", f"m-{next(_cmids)}"), "body": body}
    return await call(
        api,
        "POST",
        f"/tutor/conversations/{conversation_id}/messages",
        who,
        status,
        json=payload,
        **extra,
    )


async def balance(api: TestClient, who: Person) -> int:
    return (await call(api, "GET", "/wallet", who, 200))["balance"]


async def test_a_question_is_queued_with_a_hold_for_the_most_it_can_cost(
    api: TestClient, learner: Person
) -> None:
    persona = await chat_persona(api, p=1000, c=2000, max_output_tokens=200)
    await give(api, learner.id, 10_000)
    chat = await conversation(api, learner, persona.id)
    asked = await ask(api, learner, chat["id"], "What is a derivative?")
    assert asked["run"]["status"] == "queued"
    assert asked["message"]["role"] == "user"
    assert asked["message"]["body"] == "What is a derivative?"
    run = await call(api, "GET", f"/tutor/runs/{asked['run']['id']}", learner, 200)
    assert run["max_tokens"] == 200
    # The hold covers the prompt allowance and 200 output tokens at 2 credits a token.
    assert run["hold_credits"] >= 400
    assert await balance(api, learner) == 10_000 - run["hold_credits"]
    wallet_balance, own, everything = await ledger_totals(api, learner.id)
    assert wallet_balance == own == 10_000 - run["hold_credits"] and everything == 0
    got = await call(api, "GET", f"/tutor/conversations/{chat['id']}", learner, 200)
    assert got["active_run_id"] == asked["run"]["id"]
    assert got["title"] == "What is a derivative?"


async def test_the_same_client_message_id_answers_the_first_run(
    api: TestClient, learner: Person
) -> None:
    persona = await chat_persona(api)
    await give(api, learner.id, 10_000)
    chat = await conversation(api, learner, persona.id)
    first = await ask(api, learner, chat["id"], "Hello", cmid="q-1")
    held = await balance(api, learner)
    again = await ask(api, learner, chat["id"], "Hello", cmid="q-1")
    assert again["run"]["id"] == first["run"]["id"]
    assert again["message"]["id"] == first["message"]["id"]
    assert await balance(api, learner) == held


async def test_flagged_input_is_refused_before_anything_is_held_or_sent(
    api: TestClient, learner: Person, fake_ai: FakeAIProvider
) -> None:
    persona = await chat_persona(api)
    await give(api, learner.id, 10_000)
    chat = await conversation(api, learner, persona.id)
    refused = await ask(api, learner, chat["id"], SCAM, 422)
    assert refused["error"]["code"] == "moderation.flagged"
    assert refused["error"]["fields"] == {"body": "scam"}
    assert await balance(api, learner) == 10_000
    assert fake_ai.requests == []
    page = await call(api, "GET", f"/tutor/conversations/{chat['id']}/messages", learner, 200)
    assert page["items"] == []


async def test_one_run_at_a_time_per_conversation(api: TestClient, learner: Person) -> None:
    persona = await chat_persona(api)
    await give(api, learner.id, 10_000)
    chat = await conversation(api, learner, persona.id)
    await ask(api, learner, chat["id"], "First question")
    refused = await ask(api, learner, chat["id"], "Second question", 409)
    assert refused["error"]["code"] == "tutor.run_in_progress"
    deleting = await call(api, "DELETE", f"/tutor/conversations/{chat['id']}", learner, 409)
    assert deleting["error"]["code"] == "tutor.run_in_progress"


async def test_a_short_balance_lowers_max_tokens_and_too_short_is_refused_naming_the_need(
    api: TestClient, learner: Person
) -> None:
    persona = await chat_persona(api, p=1000, c=1000, max_output_tokens=1000)
    chat = await conversation(api, learner, persona.id)
    refused = await ask(api, learner, chat["id"], "Explain limits", 409)
    assert refused["error"]["code"] == "wallet.insufficient_funds"
    assert "needs at least" in refused["error"]["message"]
    needed = int(refused["error"]["message"].split("needs at least ")[1].split()[0])
    await give(api, learner.id, needed + 100)
    asked = await ask(api, learner, chat["id"], "Explain limits")
    run = await call(api, "GET", f"/tutor/runs/{asked['run']['id']}", learner, 200)
    assert 64 <= run["max_tokens"] < 1000
    assert run["hold_credits"] <= needed + 100
    assert await balance(api, learner) == needed + 100 - run["hold_credits"]


async def test_a_run_is_anothers_to_nobody(api: TestClient, learner: Person) -> None:
    persona = await chat_persona(api)
    await give(api, learner.id, 10_000)
    chat = await conversation(api, learner, persona.id)
    asked = await ask(api, learner, chat["id"], "Mine")
    from tests.helpers.people import person

    stranger = await person(api)
    await call(api, "GET", f"/tutor/runs/{asked['run']['id']}", stranger, 404)
    await call(api, "POST", f"/tutor/runs/{asked['run']['id']}/stop", stranger, 404)
    await call(api, "GET", f"/tutor/conversations/{chat['id']}", stranger, 404)
    await ask(api, stranger, chat["id"], "Not mine", 404)
    async with api.app[RUNTIME].db.read() as session:
        runs = (await session.scalars(select(TutorRun))).all()
    assert len(runs) == 1


async def _quota(api: TestClient, user_id: int, **limits: int | None) -> None:
    from models.tutor.catalog import TutorQuota

    runtime = api.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        uow.session.add(
            TutorQuota(
                subject_type="user",
                subject=str(user_id),
                updated_at=runtime.clock.now(),
                **limits,
            )
        )


async def test_the_quota_of_runs_at_once_refuses_with_retry_after(
    api: TestClient, learner: Person
) -> None:
    persona = await chat_persona(api)
    await give(api, learner.id, 100_000)
    await _quota(api, learner.id, concurrent_runs=1, tokens_per_day=None)
    first, second = [await conversation(api, learner, persona.id) for _ in range(2)]
    await ask(api, learner, first["id"], "one")
    response = await api.post(
        f"/api/v1/tutor/conversations/{second['id']}/messages",
        json={"client_message_id": "two", "body": "two"},
        headers=learner.headers,
    )
    assert response.status == 429
    assert (await response.json())["error"]["code"] == "tutor.quota_exceeded"
    assert int(response.headers["Retry-After"]) >= 1


async def test_the_daily_token_quota_refuses_until_the_next_business_day(
    api: TestClient, learner: Person, fake_ai: FakeAIProvider
) -> None:
    from tests.helpers.tutor import answer

    persona = await chat_persona(api)
    await give(api, learner.id, 100_000)
    await _quota(api, learner.id, tokens_per_day=10, concurrent_runs=None)
    chat = await conversation(api, learner, persona.id)
    fake_ai.script = Script(reply="a long enough answer to pass ten tokens in all")
    asked = await ask(api, learner, chat["id"], "first")
    await answer(api, asked["run"]["id"])
    held = await balance(api, learner)
    response = await api.post(
        f"/api/v1/tutor/conversations/{chat['id']}/messages",
        json={"client_message_id": "again", "body": "second"},
        headers=learner.headers,
    )
    assert response.status == 429
    assert (await response.json())["error"]["code"] == "tutor.quota_exceeded"
    assert 1 <= int(response.headers["Retry-After"]) <= 86_400
    assert await balance(api, learner) == held
