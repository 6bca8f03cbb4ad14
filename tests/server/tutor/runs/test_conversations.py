"""Conversations: started with an active persona about what the user may see, listed, renamed,
memory switched, deleted; their messages newest first."""

from __future__ import annotations

from aiohttp.test_utils import TestClient
from sqlalchemy import update

from models.tutor.catalog import Persona
from server.keys import RUNTIME
from tests.fakes.ai_provider import FakeAIProvider, Script
from tests.helpers.content import draft, publish
from tests.helpers.people import Person, call, person
from tests.helpers.tutor import answer, chat_persona
from tests.helpers.wallet import give
from tests.server.tutor.runs.test_asking import ask, conversation


async def test_a_conversation_needs_an_active_persona(api: TestClient, learner: Person) -> None:
    persona = await chat_persona(api)
    missing = await call(
        api, "POST", "/tutor/conversations", learner, 404, json={"persona_id": 999999}
    )
    assert missing["error"]["code"] == "tutor.persona_not_found"
    async with api.app[RUNTIME].db.unit_of_work() as uow:
        await uow.session.execute(
            update(Persona).where(Persona.id == persona.id).values(status="archived")
        )
    await call(api, "POST", "/tutor/conversations", learner, 404, json={"persona_id": persona.id})


async def test_a_conversation_about_an_item_needs_the_item_visible_to_the_user(
    api: TestClient, learner: Person
) -> None:
    persona = await chat_persona(api)
    author, moderator = await person(api, "creator"), await person(api, "moderator")
    paid = await publish(
        api,
        author,
        moderator,
        access="paid",
        price_cents=990,
        body="Preview.\n\n<!--more-->\n\nPaid.",
    )
    unpublished = await draft(api, author)
    about = await call(
        api,
        "POST",
        "/tutor/conversations",
        learner,
        201,
        json={"persona_id": persona.id, "content_id": paid["id"], "title": "关于这篇"},
    )
    assert about["content_id"] == paid["id"] and about["title"] == "关于这篇"
    refused = await call(
        api,
        "POST",
        "/tutor/conversations",
        learner,
        404,
        json={"persona_id": persona.id, "content_id": unpublished["id"]},
    )
    assert refused["error"]["code"] == "content.not_found"


async def test_conversations_list_most_recently_active_first_with_a_cursor(
    api: TestClient, learner: Person, fake_ai: FakeAIProvider
) -> None:
    persona = await chat_persona(api)
    await give(api, learner.id, 100_000)
    made = [await conversation(api, learner, persona.id) for _ in range(3)]
    fake_ai.script = Script(reply="ok")
    asked = await ask(api, learner, made[0]["id"], "bump the oldest")
    await answer(api, asked["run"]["id"])
    first = await call(api, "GET", "/tutor/conversations?limit=2", learner, 200)
    assert [c["id"] for c in first["items"]] == [made[0]["id"], made[2]["id"]]
    rest = await call(
        api, "GET", f"/tutor/conversations?limit=2&cursor={first['next_cursor']}", learner, 200
    )
    assert [c["id"] for c in rest["items"]] == [made[1]["id"]] and rest["next_cursor"] is None
    other = await person(api)
    assert (await call(api, "GET", "/tutor/conversations", other, 200))["items"] == []
    bad = await call(api, "GET", "/tutor/conversations?cursor=bm9wZQ", learner, 400)
    assert bad["error"]["code"] == "pagination.invalid_cursor"


async def test_renaming_switching_memory_and_deleting(
    api: TestClient, learner: Person, fake_ai: FakeAIProvider
) -> None:
    persona = await chat_persona(api, memory=True)
    await give(api, learner.id, 100_000)
    chat = await conversation(api, learner, persona.id)
    assert chat["memory_enabled"] is True
    path = f"/tutor/conversations/{chat['id']}"
    renamed = await call(api, "PATCH", path, learner, 200, json={"title": "微积分"})
    assert renamed["title"] == "微积分" and renamed["memory_enabled"] is True
    off = await call(api, "PATCH", path, learner, 200, json={"memory_enabled": False})
    assert off["memory_enabled"] is False and off["title"] == "微积分"
    await call(api, "PATCH", path, learner, 422, json={"title": ""})
    other = await person(api)
    await call(api, "PATCH", path, other, 404, json={"title": "mine now"})
    await call(api, "DELETE", path, other, 404)
    fake_ai.script = Script(reply="answer")
    asked = await ask(api, learner, chat["id"], "question")
    await answer(api, asked["run"]["id"])
    await call(api, "DELETE", path, learner, 204)
    await call(api, "GET", path, learner, 404)
    await call(api, "GET", f"{path}/messages", learner, 404)
    await call(api, "GET", f"/tutor/runs/{asked['run']['id']}", learner, 404)


async def test_messages_newest_first_with_a_cursor(
    api: TestClient, learner: Person, fake_ai: FakeAIProvider
) -> None:
    persona = await chat_persona(api)
    await give(api, learner.id, 100_000)
    chat = await conversation(api, learner, persona.id)
    for number in range(2):
        fake_ai.script = Script(reply=f"answer {number}")
        asked = await ask(api, learner, chat["id"], f"question {number}")
        await answer(api, asked["run"]["id"])
    path = f"/tutor/conversations/{chat['id']}/messages"
    first = await call(api, "GET", f"{path}?limit=3", learner, 200)
    assert [m["body"] for m in first["items"]] == ["answer 1", "question 1", "answer 0"]
    rest = await call(api, "GET", f"{path}?limit=3&cursor={first['next_cursor']}", learner, 200)
    assert [m["body"] for m in rest["items"]] == ["question 0"]
    assert first["items"][0]["usage"]["completion_tokens"] >= 1
    assert first["items"][1]["usage"] is None and first["items"][1]["run_id"] is not None
