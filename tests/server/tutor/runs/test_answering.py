"""Answering: a run streamed by the worker, its deltas, its end, and what it is billed."""

from __future__ import annotations

import asyncio
import math

from aiohttp.test_utils import TestClient

from server.keys import RUNTIME
from server.tutor.gateway.tokens import count_tokens
from tests.fakes.ai_provider import FakeAIProvider, Script, prompt_tokens
from tests.helpers.people import Person, call
from tests.helpers.tutor import answer, chat_persona, feed_entries, run_row
from tests.helpers.wallet import give, ledger_totals
from tests.server.tutor.runs.test_asking import ask, balance, conversation

REPLY = "导数描述变化率。 A derivative is the slope of a curve at a point. 就这样。"


async def asked_run(api: TestClient, who: Person, body: str = "What is a derivative?", **persona):
    made = await chat_persona(api, **persona)
    await give(api, who.id, 100_000)
    chat = await conversation(api, who, made.id)
    asked = await ask(api, who, chat["id"], body)
    return chat, asked["run"]["id"]


async def shown_some(api: TestClient, run_id: int) -> None:
    """Wait until the run has checkpointed some shown text."""
    for _ in range(250):
        if (await run_row(api, run_id)).text:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the run showed nothing")


def deltas_of(entries) -> list:
    return [e for e in entries if e.type == "tutor.delta"]


async def test_an_answer_streams_as_ordered_deltas_then_one_completed_event_billed_by_usage(
    api: TestClient, learner: Person, fake_ai: FakeAIProvider
) -> None:
    fake_ai.script = Script(reply=REPLY, token_interval=0.005)
    chat, run_id = await asked_run(api, learner, p=1000, c=2000)
    assert await answer(api, run_id) == "completed"
    entries = await feed_entries(api, run_id)
    deltas = deltas_of(entries)
    assert [d.data["seq"] for d in deltas] == list(range(1, len(deltas) + 1))
    assert "".join(d.data["text"] for d in deltas) == REPLY
    assert len(deltas) < len(REPLY.split())  # coalesced, not one per token
    end = entries[-1]
    assert end.type == "tutor.completed" and end.seq == len(deltas) + 1
    sent = fake_ai.requests[-1].body
    usage = {"prompt_tokens": prompt_tokens(sent["messages"]), "completion_tokens": 0}
    usage["completion_tokens"] = end.data["usage"]["completion_tokens"]
    assert end.data["usage"]["prompt_tokens"] == usage["prompt_tokens"]
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    expected = math.ceil((usage["prompt_tokens"] * 1000 + usage["completion_tokens"] * 2000) / 1000)
    assert end.data["cost_credits"] == expected
    assert end.data["finish_reason"] == "stop"
    assert end.data["message"]["body"] == REPLY
    assert await balance(api, learner) == 100_000 - expected
    wallet_balance, own, everything = await ledger_totals(api, learner.id)
    assert wallet_balance == own and everything == 0
    page = await call(api, "GET", f"/tutor/conversations/{chat['id']}/messages", learner, 200)
    newest = page["items"][0]
    assert newest["role"] == "assistant" and newest["body"] == REPLY
    assert newest["cost_credits"] == expected and newest["finish_reason"] == "stop"
    assert newest["usage"] == end.data["usage"]
    got = await call(api, "GET", f"/tutor/conversations/{chat['id']}", learner, 200)
    assert got["active_run_id"] is None


async def test_a_run_is_never_sent_to_a_provider_twice(
    api: TestClient, learner: Person, fake_ai: FakeAIProvider
) -> None:
    fake_ai.script = Script(reply="Once.")
    _, run_id = await asked_run(api, learner)
    assert await answer(api, run_id) == "completed"
    assert await answer(api, run_id) is None
    assert len(fake_ai.calls_to("/v1/chat")) == 1


async def test_concurrent_jobs_for_one_run_call_the_provider_once_and_settle_once(
    api: TestClient, learner: Person, fake_ai: FakeAIProvider
) -> None:
    fake_ai.script = Script(reply="Only one of us answers.", token_interval=0.01)
    _, run_id = await asked_run(api, learner)
    outcomes = await asyncio.gather(*(answer(api, run_id) for _ in range(3)))
    assert outcomes.count("completed") == 1 and outcomes.count(None) == 2
    assert len(fake_ai.calls_to("/v1/chat")) == 1
    row = await run_row(api, run_id)
    assert await balance(api, learner) == 100_000 - row.cost_credits


async def test_an_error_before_the_first_token_costs_nothing(
    api: TestClient, learner: Person, fake_ai: FakeAIProvider
) -> None:
    fake_ai.script = Script(status=500)
    _, run_id = await asked_run(api, learner)
    assert await answer(api, run_id) == "failed"
    end = (await feed_entries(api, run_id))[-1]
    assert end.type == "tutor.failed"
    assert end.data["error"]["code"] == "tutor.provider_unavailable"
    assert end.data["cost_credits"] == 0
    assert await balance(api, learner) == 100_000
    row = await run_row(api, run_id)
    assert row.status == "failed" and row.cost_credits == 0


async def test_failover_to_the_next_route_before_the_first_token(
    api: TestClient, learner: Person, fake_ai: FakeAIProvider
) -> None:
    fake_ai.queue = [Script(status=503), Script(reply="From the second route.")]
    routes = [
        {"provider": "fake", "upstream_model": "primary"},
        {"provider": "fake", "upstream_model": "backup"},
    ]
    _, run_id = await asked_run(api, learner, routes=routes)
    assert await answer(api, run_id) == "completed"
    assert [c.body["model"] for c in fake_ai.calls_to("/v1/chat")] == ["primary", "backup"]
    row = await run_row(api, run_id)
    assert row.upstream_model == "backup" and row.text == "From the second route."


async def test_a_provider_failing_mid_stream_bills_the_prompt_and_what_was_shown(
    api: TestClient, learner: Person, fake_ai: FakeAIProvider
) -> None:
    reply = "第一句。 Second sentence here. 第三句不会到达。"
    fake_ai.script = Script(reply=reply, fail_after_tokens=6, token_interval=0.01)
    _, run_id = await asked_run(api, learner, p=1000, c=1000)
    assert await answer(api, run_id) == "failed"
    entries = await feed_entries(api, run_id)
    shown = "".join(d.data["text"] for d in deltas_of(entries))
    assert shown and reply.startswith(shown) and shown != reply
    end = entries[-1]
    assert end.type == "tutor.failed" and end.data["error"]["code"] == "tutor.provider_failed"
    row = await run_row(api, run_id)
    assert row.text == shown
    assert row.completion_tokens == count_tokens(shown)
    assert end.data["cost_credits"] == row.prompt_tokens + row.completion_tokens
    assert await balance(api, learner) == 100_000 - end.data["cost_credits"]
    assert end.data["message"]["body"] == shown


async def test_blocked_output_is_never_shown_nor_billed(
    api: TestClient, learner: Person, fake_ai: FakeAIProvider
) -> None:
    reply = "前面的话没问题。 然后 刷单返利 赚钱 之后的话。"
    fake_ai.script = Script(reply=reply, token_interval=0.005)
    _, run_id = await asked_run(api, learner, p=1000, c=1000)
    assert await answer(api, run_id) == "failed"
    entries = await feed_entries(api, run_id)
    shown = "".join(d.data["text"] for d in deltas_of(entries))
    assert "刷单" not in shown
    end = entries[-1]
    assert end.data["error"]["code"] == "moderation.flagged_output"
    row = await run_row(api, run_id)
    assert row.text == shown and "刷单" not in row.text
    assert row.completion_tokens == count_tokens(shown)
    assert end.data["cost_credits"] == row.prompt_tokens + row.completion_tokens


async def test_a_providers_own_refusal_is_blocked_output(
    api: TestClient, learner: Person, fake_ai: FakeAIProvider
) -> None:
    fake_ai.script = Script(reply="I can't", finish_reason="content_filter")
    _, run_id = await asked_run(api, learner)
    assert await answer(api, run_id) == "failed"
    end = (await feed_entries(api, run_id))[-1]
    assert end.data["error"]["code"] == "moderation.flagged_output"


async def test_an_answer_cut_at_max_tokens_ends_with_length(
    api: TestClient, learner: Person, fake_ai: FakeAIProvider
) -> None:
    fake_ai.script = Script(reply="word " * 300)
    _, run_id = await asked_run(api, learner, max_output_tokens=100)
    assert await answer(api, run_id) == "completed"
    end = (await feed_entries(api, run_id))[-1]
    assert end.data["finish_reason"] == "length"
    assert end.data["usage"]["completion_tokens"] == 100


async def test_a_stopped_run_bills_the_prompt_and_what_was_shown(
    api: TestClient, learner: Person, fake_ai: FakeAIProvider
) -> None:
    fake_ai.script = Script(reply="慢慢说。" * 200, token_interval=0.01)
    _, run_id = await asked_run(api, learner, p=1000, c=1000, max_output_tokens=2000)
    running = asyncio.create_task(answer(api, run_id))
    await shown_some(api, run_id)
    stopped = await call(api, "POST", f"/tutor/runs/{run_id}/stop", learner, 202)
    assert stopped == {"id": run_id, "status": "running"}
    assert await asyncio.wait_for(running, 5) == "stopped"
    entries = await feed_entries(api, run_id)
    end = entries[-1]
    assert end.type == "tutor.completed" and end.data["finish_reason"] == "stopped"
    shown = "".join(d.data["text"] for d in deltas_of(entries))
    row = await run_row(api, run_id)
    assert row.status == "stopped" and row.text == shown
    assert end.data["cost_credits"] == row.prompt_tokens + count_tokens(shown)
    assert fake_ai.disconnects >= 1  # the provider saw the stream closed
    again = await call(api, "POST", f"/tutor/runs/{run_id}/stop", learner, 409)
    assert again["error"]["code"] == "tutor.run_finished"


async def test_a_client_that_goes_away_does_not_stop_the_run(
    api: TestClient, learner: Person, fake_ai: FakeAIProvider
) -> None:
    # Nobody is listening at all: the run still completes and is billed as a whole answer.
    fake_ai.script = Script(reply="Nobody listens, still answered.")
    _, run_id = await asked_run(api, learner)
    assert await answer(api, run_id) == "completed"
    assert (await run_row(api, run_id)).text == "Nobody listens, still answered."


async def test_the_run_reads_what_was_shown_so_far_while_it_streams(
    api: TestClient, learner: Person, fake_ai: FakeAIProvider
) -> None:
    fake_ai.script = Script(reply="一二三四五六七八九十。" * 20, token_interval=0.01)
    _, run_id = await asked_run(api, learner, max_output_tokens=1000)
    running = asyncio.create_task(answer(api, run_id))
    await shown_some(api, run_id)
    seen = await call(api, "GET", f"/tutor/runs/{run_id}", learner, 200)
    assert seen["status"] == "running" and seen["text"] and seen["seq"] >= 1
    await asyncio.wait_for(running, 10)
    done = await call(api, "GET", f"/tutor/runs/{run_id}", learner, 200)
    assert done["status"] == "completed" and done["text"] == "一二三四五六七八九十。" * 20
    assert done["message_id"] is not None


async def test_the_ledger_stays_whole_through_answers(
    api: TestClient, learner: Person, fake_ai: FakeAIProvider
) -> None:
    fake_ai.script = Script(reply="Short.")
    for _ in range(3):
        _, run_id = await asked_run(api, learner)
        await answer(api, run_id)
    _, _, everything = await ledger_totals(api, learner.id)
    assert everything == 0
    async with api.app[RUNTIME].db.read() as session:
        from server.commerce.ledger.audit import audit

        checked = await audit(session)
    assert checked.ok, checked
