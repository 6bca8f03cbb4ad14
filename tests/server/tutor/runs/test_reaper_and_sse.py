"""Runs whose worker died are finished by the reaper; plain HTTP clients follow a run over SSE."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import orjson
from aiohttp.test_utils import TestClient
from sqlalchemy import update

from jobs.tutor import reap
from models.tutor.runs import TutorRun
from server.keys import RUNTIME
from server.tutor.gateway.tokens import count_tokens
from server.tutor.runs import events
from tests.fakes.ai_provider import FakeAIProvider, Script
from tests.helpers.people import Person
from tests.helpers.tutor import answer, feed_entries, run_row
from tests.helpers.wallet import ledger_totals
from tests.server.tutor.runs.test_answering import asked_run
from tests.server.tutor.runs.test_asking import balance


async def _reap(api: TestClient) -> int:
    return await reap({"runtime": api.app[RUNTIME]})


async def _age(api: TestClient, run_id: int, *, status: str, text: str = "") -> None:
    """Make the run look like its worker died a while ago after showing `text`."""
    runtime = api.app[RUNTIME]
    old = runtime.clock.now() - timedelta(seconds=runtime.settings.tutor_reap_after_seconds + 5)
    async with runtime.db.unit_of_work() as uow:
        await uow.session.execute(
            update(TutorRun)
            .where(TutorRun.id == run_id)
            .values(
                status=status,
                text=text,
                seq=1 if text else 0,
                heartbeat_at=old,
                created_at=old,
                prompt_tokens=50 if text else None,
            )
        )


async def test_the_reaper_finishes_a_dead_run_billed_from_its_last_checkpoint(
    api: TestClient, learner: Person, fake_ai: FakeAIProvider
) -> None:
    _, run_id = await asked_run(api, learner, p=1000, c=1000)
    await _age(api, run_id, status="running", text="已经显示的部分")
    assert await _reap(api) == 1
    row = await run_row(api, run_id)
    assert row.status == "failed" and row.error_code == "tutor.interrupted"
    assert row.cost_credits == 50 + count_tokens("已经显示的部分")
    assert await balance(api, learner) == 100_000 - row.cost_credits
    end = (await feed_entries(api, run_id))[-1]
    assert end.type == "tutor.failed" and end.data["error"]["code"] == "tutor.interrupted"
    # Reaped once; a late worker finds it ended and calls no provider.
    assert await _reap(api) == 0
    assert await answer(api, run_id) is None
    assert fake_ai.requests == []
    _, _, everything = await ledger_totals(api, learner.id)
    assert everything == 0


async def test_a_waiting_run_has_its_job_queued_again_then_is_given_up_at_no_cost(
    api: TestClient, learner: Person, fake_ai: FakeAIProvider
) -> None:
    _, run_id = await asked_run(api, learner)
    await _age(api, run_id, status="queued")
    runtime = api.app[RUNTIME]
    job_key = f"arq:job:{runtime.settings.key_prefix}:tutor.run:{run_id}"
    await runtime.redis.delete(job_key)  # Redis lost the job
    assert await _reap(api) == 0
    assert await runtime.redis.exists(job_key)
    assert (await run_row(api, run_id)).status == "queued"
    long_ago = runtime.clock.now() - timedelta(
        seconds=runtime.settings.tutor_reap_after_seconds * 11
    )
    async with runtime.db.unit_of_work() as uow:
        await uow.session.execute(
            update(TutorRun).where(TutorRun.id == run_id).values(created_at=long_ago)
        )
    assert await _reap(api) == 1
    row = await run_row(api, run_id)
    assert row.status == "failed" and row.cost_credits == 0
    assert await balance(api, learner) == 100_000
    assert fake_ai.requests == []


async def _sse(api: TestClient, who: Person, run_id: int, last: str | None = None) -> list[dict]:
    headers = dict(who.headers)
    if last is not None:
        headers["Last-Event-ID"] = last
    response = await api.get(f"/api/v1/tutor/runs/{run_id}/events", headers=headers)
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    frames = []
    for block in (await response.text()).split("\n\n"):
        if not block.strip() or block.startswith(":"):
            continue
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        frames.append(
            {"id": int(fields["id"]), "event": fields["event"], **orjson.loads(fields["data"])}
        )
    return frames


async def test_sse_sends_every_event_with_its_seq_and_resumes_after_last_event_id(
    api: TestClient, learner: Person, fake_ai: FakeAIProvider
) -> None:
    fake_ai.script = Script(reply="一句话。 Another sentence. 第三句。", token_interval=0.01)
    _, run_id = await asked_run(api, learner)
    listening = asyncio.create_task(_sse(api, learner, run_id))
    await answer(api, run_id)
    frames = await asyncio.wait_for(listening, 5)
    assert [f["id"] for f in frames] == list(range(1, len(frames) + 1))
    assert frames[-1]["event"] == "tutor.completed"
    text = "".join(f["data"]["text"] for f in frames if f["event"] == "tutor.delta")
    assert text == "一句话。 Another sentence. 第三句。"
    resumed = await _sse(api, learner, run_id, last=str(frames[0]["id"]))
    assert [f["id"] for f in resumed] == [f["id"] for f in frames[1:]]


async def test_sse_of_an_ended_run_whose_feed_is_gone_sends_its_end_from_the_database(
    api: TestClient, learner: Person, fake_ai: FakeAIProvider, monkeypatch
) -> None:
    fake_ai.script = Script(reply="Done long ago.")
    _, run_id = await asked_run(api, learner)
    await answer(api, run_id)
    runtime = api.app[RUNTIME]
    await runtime.redis.delete(f"{runtime.settings.key_prefix}:tutor:run:{run_id}")
    monkeypatch.setattr(events, "PING_SECONDS", 0.05)
    frames = await _sse(api, learner, run_id)
    assert [f["event"] for f in frames] == ["tutor.completed"]
    assert frames[0]["data"]["message"]["body"] == "Done long ago."


async def test_sse_pings_while_silent_and_refuses_bad_ids(
    api: TestClient, learner: Person, monkeypatch
) -> None:
    _, run_id = await asked_run(api, learner)
    monkeypatch.setattr(events, "PING_SECONDS", 0.05)
    response = await api.get(f"/api/v1/tutor/runs/{run_id}/events", headers=learner.headers)
    first = await asyncio.wait_for(response.content.readuntil(b"\n\n"), 2)
    assert first == b": ping\n\n"
    response.close()
    bad = await api.get(
        f"/api/v1/tutor/runs/{run_id}/events",
        headers={**learner.headers, "Last-Event-ID": "abc"},
    )
    assert bad.status == 400
    assert (await bad.json())["error"]["code"] == "tutor.invalid_event_id"


async def test_erasing_an_account_mid_answer_gives_its_held_credits_back_first(
    api: TestClient, learner: Person
) -> None:
    from sqlalchemy import func, select

    from models.commerce.ledger import LedgerTransaction
    from tests.helpers.accounts import run_task
    from tests.helpers.auth import PASSWORD

    _, run_id = await asked_run(api, learner)
    await _age(api, run_id, status="running", text="")
    assert await balance(api, learner) < 100_000
    response = await api.post(
        "/api/v1/me/delete",
        json={"password": PASSWORD, "confirm": "DELETE"},
        headers=learner.headers,
    )
    assert response.status == 202
    assert await run_task(api, "accounts.erase", user_id=learner.id) is True
    runtime = api.app[RUNTIME]
    async with runtime.db.read() as session:
        from server.commerce.ledger.audit import audit
        from server.commerce.wallet import service as wallet

        assert await wallet.balance(session, user_id=learner.id) == 100_000
        settles = await session.scalar(
            select(func.count())
            .select_from(LedgerTransaction)
            .where(LedgerTransaction.kind == wallet.SETTLE)
        )
        assert settles == 1
        assert (await audit(session)).ok
    assert await _reap(api) == 0


async def test_a_run_its_worker_checkpointed_after_it_was_listed_is_left_to_the_worker(
    api: TestClient, learner: Person
) -> None:
    from server.tutor.runs import settle

    _, run_id = await asked_run(api, learner)
    await _age(api, run_id, status="running", text="旧的")
    runtime = api.app[RUNTIME]
    settings = runtime.settings
    async with runtime.db.read() as session:
        listed = await settle.lost_runs(
            session,
            now=runtime.clock.now(),
            after_seconds=settings.tutor_reap_after_seconds,
            limit=10,
        )
    assert listed == [run_id]
    async with runtime.db.unit_of_work() as uow:  # the worker checkpoints meanwhile
        await uow.session.execute(
            update(TutorRun).where(TutorRun.id == run_id).values(heartbeat_at=runtime.clock.now())
        )
    async with runtime.db.unit_of_work() as uow:
        assert (
            await settle.reap(uow, run_id=run_id, settings=settings, now=runtime.clock.now())
            is None
        )
    assert (await run_row(api, run_id)).status == "running"
