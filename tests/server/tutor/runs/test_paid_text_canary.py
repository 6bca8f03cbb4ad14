"""THE bar: a non-buyer's run about a paid article never sends the paid section to the provider,
never shows it, never stores it; a buyer's run is sent it and cites it."""

from __future__ import annotations

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from models.tutor.conversations import ConversationSummary, TutorMessage
from models.tutor.runs import TutorRun
from server.keys import RUNTIME
from tests.fakes.ai_provider import FakeAIProvider, Script
from tests.helpers.content import publish
from tests.helpers.people import Person, call, person
from tests.helpers.tutor import answer, chat_persona, feed_entries
from tests.helpers.wallet import give
from tests.server.content.items.test_access import grant
from tests.server.tutor.retrieval.indexed import enable_embedding_model, index
from tests.server.tutor.runs.test_asking import ask

CANARY = "canaryquokka42"
BODY = (
    "Sourdough starters need flour, water and patience.\n\n<!-- paywall -->\n\n"
    f"The secret sourdough recipe uses {CANARY} flour at seventy percent hydration.\n"
)
QUESTION = f"What is the secret sourdough recipe flour {CANARY}?"


def sent_anywhere(fake: FakeAIProvider) -> str:
    return "\n".join(str(call.body) for call in fake.requests)


async def paid_article(api: TestClient) -> dict:
    creator, moderator = await person(api, "creator"), await person(api, "moderator")
    item = await publish(
        api, creator, moderator, title="酸面包", body=BODY, access="paid", price_cents=990
    )
    await index(api, item["id"])
    return item


async def asked(api: TestClient, who: Person, persona_id: int, content_id: int | None) -> int:
    await give(api, who.id, 100_000)
    body = {"persona_id": persona_id, **({"content_id": content_id} if content_id else {})}
    chat = await call(api, "POST", "/tutor/conversations", who, 201, json=body)
    return (await ask(api, who, chat["id"], QUESTION))["run"]["id"]


async def stored_text(api: TestClient) -> str:
    async with api.app[RUNTIME].db.read() as session:
        messages = (await session.scalars(select(TutorMessage.body))).all()
        runs = (await session.scalars(select(TutorRun.text))).all()
        summaries = (await session.scalars(select(ConversationSummary.body))).all()
    return "\n".join([*messages, *runs, *summaries])


async def test_a_non_buyers_run_never_carries_the_paid_section(
    api: TestClient, learner: Person, fake_ai: FakeAIProvider
) -> None:
    await enable_embedding_model(api)
    item = await paid_article(api)
    persona = await chat_persona(api, retrieval=True)
    # The fake answers with whatever sources it was sent: a leak would show and be stored.
    fake_ai.script = Script(reply=None)
    for content_id in (item["id"], None):
        fake_ai.requests.clear()
        run_id = await asked(api, learner, persona.id, content_id)
        assert await answer(api, run_id) == "completed"
        sent = sent_anywhere(fake_ai)
        assert "Sourdough starters need flour" in sent, "the preview is quotable"
        assert CANARY not in sent.replace(QUESTION, ""), content_id
        shown = "".join(e.data.get("text", "") for e in await feed_entries(api, run_id))
        assert CANARY not in shown.replace(QUESTION, "")
    assert CANARY not in (await stored_text(api)).replace(QUESTION, "")


async def test_a_buyers_run_is_sent_the_paid_section_and_cites_it(
    api: TestClient, learner: Person, admin: Person, fake_ai: FakeAIProvider
) -> None:
    item = await paid_article(api)
    await grant(api, admin, learner, "content", item["id"])
    persona = await chat_persona(api, retrieval=True)
    fake_ai.script = Script(reply="Use that flour [1] [2], not this [9].")
    run_id = await asked(api, learner, persona.id, item["id"])
    assert await answer(api, run_id) == "completed"
    chat = fake_ai.calls_to("/v1/chat")[-1].body["messages"]
    sources = [m for m in chat if "<source" in m["content"]]
    assert len(sources) == 1 and sources[0]["role"] == "user", "quoted as data, not instructions"
    assert f"uses {CANARY} flour" in sources[0]["content"]
    end = (await feed_entries(api, run_id))[-1]
    cited = end.data["citations"]
    assert [c["n"] for c in cited] == [1, 2]
    assert all(c["content_id"] == item["id"] and c["title"] == "酸面包" for c in cited)
    page = await call(
        api, "GET", f"/tutor/conversations/{end.data['conversation_id']}/messages", learner, 200
    )
    assert page["items"][0]["citations"] == cited
