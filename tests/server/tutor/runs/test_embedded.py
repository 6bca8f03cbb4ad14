"""The tutor in the embedded mode (SQLite, jobs in-process, events and run feeds in memory): the
same run job answers, streams and settles. (On MariaDB the tutor worker runs it: tests/system.)"""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestClient

from tests.fakes.ai_provider import FakeAIProvider, Script
from tests.helpers.people import Person, call
from tests.helpers.tutor import chat_persona, feed_entries
from tests.helpers.wallet import give, ledger_totals
from tests.server.tutor.runs.test_asking import ask, conversation


@pytest.mark.parametrize("engine_kind", ["embedded"])
async def test_a_question_is_answered_by_the_queued_job_and_settled(
    api: TestClient, learner: Person, fake_ai: FakeAIProvider
) -> None:
    fake_ai.script = Script(reply="在嵌入模式下也能回答。", token_interval=0.005)
    persona = await chat_persona(api)
    await give(api, learner.id, 50_000)
    chat = await conversation(api, learner, persona.id)
    asked = await ask(api, learner, chat["id"], "能回答吗？")
    run_id = asked["run"]["id"]
    for _ in range(300):
        run = await call(api, "GET", f"/tutor/runs/{run_id}", learner, 200)
        if run["status"] not in ("queued", "running"):
            break
        await asyncio.sleep(0.02)
    assert run["status"] == "completed", run
    assert run["text"] == "在嵌入模式下也能回答。"
    # The feed gets the end right after the commit that ended the run: a moment later.
    for _ in range(100):
        entries = await feed_entries(api, run_id)
        if entries and entries[-1].type != "tutor.delta":
            break
        await asyncio.sleep(0.02)
    assert entries[-1].type == "tutor.completed"
    wallet = await call(api, "GET", "/wallet", learner, 200)
    assert wallet["balance"] == 50_000 - run["cost_credits"]
    balance, own, everything = await ledger_totals(api, learner.id)
    assert balance == own == wallet["balance"] and everything == 0
