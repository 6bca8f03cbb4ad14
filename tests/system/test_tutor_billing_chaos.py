"""Billing AI tutor answers under chaos, across real processes: 50 runs at once on two web
instances and a tutor worker, with clients that drop their sockets, stops, providers failing
before and during their replies, and the tutor worker SIGKILLed with answers in flight (a second
one takes over, the reaper finishes what the first left). Then every hold is settled exactly
once, each charge follows the billing rules (server/tutor/runs/service.py) within its hold,
every balance equals its entries and is never negative, and nothing was doubled: no run sent to
the provider twice, settled twice, or ended by two events.

The reaper runs here, in-process, the way its cron task runs (`jobs.tutor.reap`) on a runtime
that relays what it commits to Socket.IO like a worker's; two of them race at each pass.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import aiohttp
import orjson
import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select, update

from jobs.sinks import ArqJobSink
from jobs.tutor import reap
from models.commerce.ledger import LedgerAccount, LedgerAccountShard, LedgerEntry, LedgerTransaction
from models.tutor.conversations import Conversation, TutorMessage
from models.tutor.runs import ACTIVE_STATUSES, TutorRun
from realtime.events import SocketEventSink
from realtime.server import client_manager
from realtime.streams import event_streams
from server.commerce.ledger.audit import audit
from server.runtime import Runtime
from server.tutor.gateway.tokens import count_tokens
from server.tutor.runs import pricing, settle
from tests.conftest import RUN_PREFIX, make_settings
from tests.fakes.ai_provider import FakeAIProvider, Script, prompt_tokens, split_tokens
from tests.system.conftest import StartWeb, StartWorker
from tests.system.harness import WebProcess, eventually
from tests.system.test_tutor_streams import (
    Socket,
    api,
    ask,
    device,
    fake_ai,
    give,
    http,
    insert_persona,
    learner,
    open_conversation,
    sockets,
    start_tutor_worker,
    tutor_env,
)

__all__ = ["fake_ai", "http", "sockets"]

pytestmark = pytest.mark.system

P, C, MAX_TOKENS = 1000, 2000, 200
RICH, POOR = 100_000, 300  # POOR covers the prompt and fewer than MAX_TOKENS output tokens
REAP_AFTER = 2
END_STATUSES = frozenset({"completed", "stopped", "failed"})
MARKER = re.compile(r"\[q(\d+)\]")
# A reproducible shuffle; SHARESTACK_CHAOS_SEED=<n> replays a failing one.
SEED = int(os.environ.get("SHARESTACK_CHAOS_SEED", "") or random.SystemRandom().randrange(10**6))

# What each run's provider does, by wave: wave 1 on the worker that is killed, wave 2 after.
WAVE_1 = {"normal": 10, "fail_mid": 6, "fail_early": 5, "stop": 6, "kill": 6, "drop": 5}
WAVE_2 = {"normal": 4, "fail_mid": 3, "fail_early": 2, "stop": 3}
SLOW = frozenset({"stop", "kill"})


@dataclass
class Run:
    index: int
    kind: str
    wave: int
    script: Script
    poor: bool = False
    user_id: int = 0
    token: str = ""
    conversation_id: int = 0
    web: WebProcess | None = None
    run_id: int = 0
    given: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)


def script_for(kind: str, rng: random.Random) -> Script:
    words = lambda n: "".join(f"w{n}x{i} " for i in range(n))  # noqa: E731
    if kind in SLOW:  # 16 s (MAX_TOKENS at 80 ms): stopped, or still going when its worker dies
        return Script(reply=words(400), token_interval=0.08)
    if kind == "drop":  # its client walks away; the answer goes on
        return Script(reply=words(80), token_interval=0.02)
    if kind == "fail_mid":
        return Script(
            reply=words(60),
            token_interval=0.01,
            fail_after_tokens=rng.randint(3, 40),
            fail_mode=rng.choice(["drop", "end", "garbage", "stall"]),
        )
    if kind == "fail_early":
        return rng.choice(
            [Script(status=500), Script(status=429), Script(reply=words(9), fail_after_tokens=0)]
        )
    return Script(
        reply=words(rng.randint(5, 60)),
        token_interval=0.01,
        first_token_delay=rng.uniform(0, 0.3),
    )


def plan(rng: random.Random) -> list[Run]:
    runs: list[Run] = []
    for wave, kinds in ((1, WAVE_1), (2, WAVE_2)):
        batch = [kind for kind, n in kinds.items() for _ in range(n)]
        rng.shuffle(batch)
        for kind in batch:
            runs.append(Run(len(runs), kind, wave, script_for(kind, rng)))
    # Some wallets cover less than the longest answer: their holds lower max_tokens.
    for run in rng.sample([r for r in runs if r.kind == "normal"], 4):
        run.poor = True
    return runs


def picker(runs: list[Run]) -> Callable[[dict[str, Any]], Script | None]:
    """The fake's script for a request: the run whose marker its question carries."""

    def pick(body: dict[str, Any]) -> Script | None:
        users = [m for m in body.get("messages") or [] if m.get("role") == "user"]
        found = MARKER.search(str(users[-1].get("content") or "")) if users else None
        if found is None:
            return None
        run = runs[int(found.group(1))]
        run.requests.append(body)
        return run.script

    return pick


@pytest.fixture
async def reaper(database_url: str, engine: Any) -> AsyncIterator[Runtime]:
    """A worker's runtime in this process, reaping after REAP_AFTER s; what it commits is
    relayed to Socket.IO (the user streams) as a worker's is."""
    settings = make_settings(database_url=database_url, tutor_reap_after_seconds=REAP_AFTER)
    runtime = await Runtime.open(settings)
    assert runtime.redis is not None
    emitter = client_manager(settings, write_only=True)
    events = SocketEventSink(emitter, streams=event_streams(settings, runtime.redis))
    runtime.attach(jobs=ArqJobSink(runtime.redis, settings), events=events)
    # The estimator loads its vocabulary on first use, blocking this process (and so the fake
    # provider serving from it) for a moment: not in the middle of the answers.
    count_tokens("warm up")
    yield runtime
    await runtime.close()
    if getattr(emitter, "redis", None) is not None:
        await emitter.redis.aclose()


async def statuses(runtime: Runtime, runs: list[Run]) -> dict[int, TutorRun]:
    async with runtime.db.read() as session:
        found = await session.scalars(
            select(TutorRun).where(TutorRun.id.in_([r.run_id for r in runs]))
        )
        return {row.id: row for row in found}


async def until(
    runtime: Runtime, runs: list[Run], check: Callable[[TutorRun], bool], what: str
) -> None:
    async def holds() -> bool:
        rows = await statuses(runtime, runs)
        return len(rows) == len(runs) and all(check(row) for row in rows.values())

    await eventually(holds, 20, what=what)


async def sign_up(
    http: aiohttp.ClientSession, runtime: Runtime, run: Run, webs: Any, few: asyncio.Semaphore
) -> None:
    run.web = webs[run.index % 2]
    run.user_id, run.token = await learner(http, run.web)
    run.given = POOR if run.poor else RICH
    async with few:  # within this process's database pool
        await give(runtime, run.user_id, run.given)


async def ask_all(http: aiohttp.ClientSession, runs: list[Run]) -> None:
    async def one(run: Run) -> None:
        assert run.web is not None
        body = f"[q{run.index}] Explain part {run.index} of the chapter, please."
        run.run_id = await ask(http, run.web, run.token, run.conversation_id, body)

    await asyncio.gather(*(one(run) for run in runs))


async def stop_all(http: aiohttp.ClientSession, runs: list[Run], status: int = 202) -> None:
    async def one(run: Run, web: WebProcess) -> None:
        await api(http, web, "POST", f"/tutor/runs/{run.run_id}/stop", run.token, status)

    assert all(run.web is not None for run in runs)
    await asyncio.gather(*(one(run, run.web) for run in runs if run.web is not None))


async def walk_away(socket: Socket, run: Run) -> None:
    """Drop the socket once the first delta of its run arrived."""
    while True:
        _, payload = await socket.next(30)
        if payload["type"] == "tutor.delta" and payload["data"]["run_id"] == run.run_id:
            await socket.client.disconnect()
            return


async def reap_until_all_ended(reaper: Runtime, runs: list[Run]) -> int:
    """Two reapers racing, every half second, until no run is active; how many they reaped."""
    reaped = 0
    deadline = time.monotonic() + 30
    while True:
        rows = await statuses(reaper, runs)
        if all(row.status not in ACTIVE_STATUSES for row in rows.values()):
            return reaped
        assert time.monotonic() < deadline, {i: r.status for i, r in rows.items()}
        passes = await asyncio.gather(reap({"runtime": reaper}), reap({"runtime": reaper}))
        reaped += sum(passes)
        await asyncio.sleep(0.5)


async def test_fifty_answers_under_chaos_are_each_billed_once_by_the_rules(
    start_web: StartWeb,
    start_worker: StartWorker,
    reaper: Runtime,
    http: aiohttp.ClientSession,
    fake_ai: FakeAIProvider,
    sockets: list[Socket],
    check_redis: Redis,
) -> None:
    print(f"SHARESTACK_CHAOS_SEED={SEED}")
    rng = random.Random(SEED)
    runs = plan(rng)
    fake_ai.pick = picker(runs)
    env = tutor_env(fake_ai)
    web_a, web_b, first_worker = await asyncio.gather(
        start_web(**env), start_web(**env), start_tutor_worker(start_worker, env)
    )
    persona_id = await insert_persona(reaper, p=P, c=C, max_output_tokens=MAX_TOKENS)
    few = asyncio.Semaphore(5)
    await asyncio.gather(*(sign_up(http, reaper, run, (web_a, web_b), few) for run in runs))

    async def conversation(run: Run) -> None:
        assert run.web is not None
        run.conversation_id = await open_conversation(http, run.web, run.token, persona_id)

    await asyncio.gather(*(conversation(run) for run in runs))
    wave_1 = [run for run in runs if run.wave == 1]
    wave_2 = [run for run in runs if run.wave == 2]

    # Wave 1 on the first worker; some clients follow on a socket, then walk away.
    droppers = [run for run in wave_1 if run.kind == "drop"]
    followed = [
        (await device(sockets, (web_b, web_a)[run.index % 2], {"token": run.token}), run)
        for run in droppers
    ]
    await ask_all(http, wave_1)
    walking = [asyncio.ensure_future(walk_away(socket, run)) for socket, run in followed]
    slow = [run for run in wave_1 if run.kind in SLOW]
    quick = [run for run in wave_1 if run.kind not in SLOW]
    await until(reaper, slow, lambda row: bool(row.text), "the slow answers showed some text")
    await stop_all(http, [run for run in slow if run.kind == "stop"])
    await until(reaper, quick, lambda row: row.status in END_STATUSES, "quick answers ended")
    await until(
        reaper,
        [run for run in slow if run.kind == "stop"],
        lambda row: row.status == "stopped",
        "the stopped answers ended",
    )
    await asyncio.gather(*walking)

    # The worker dies with the `kill` answers mid-stream; one of them is asked to stop too.
    in_flight = await statuses(reaper, [run for run in slow if run.kind == "kill"])
    assert all(row.status == "running" for row in in_flight.values()), {
        row.id: (row.status, row.error_code, len(row.text)) for row in in_flight.values()
    }
    await first_worker.kill()
    await stop_all(http, [run for run in slow if run.kind == "kill"][:1])

    # A second worker takes wave 2 while the reaper finishes what the first one left.
    await start_tutor_worker(start_worker, env)
    await ask_all(http, wave_2)
    stopping = [run for run in wave_2 if run.kind == "stop"]
    await until(reaper, stopping, lambda row: bool(row.text), "wave 2's slow answers showed text")
    await stop_all(http, stopping)
    reaped = await reap_until_all_ended(reaper, runs)
    assert reaped == len(in_flight)
    await asyncio.sleep(0.6)  # then the sweep relays what the killed worker committed unsent
    assert reaper.relay is not None
    await reaper.relay.sweep()

    rows = await check_runs(reaper, runs, in_flight)
    await check_streams(check_redis, runs, rows, in_flight)
    await check_ledger(reaper, runs, rows)


# --- the checks -------------------------------------------------------------------------------


def expected_usage(run: Run, row: TutorRun) -> tuple[int, int]:
    """The provider's usage for a reply it finished (as the fake counts it)."""
    body = run.requests[0]
    tokens = split_tokens(run.script.reply or "")
    return prompt_tokens(body["messages"]), min(len(tokens), row.max_tokens)


def check_charge(run: Run, row: TutorRun, reaped: bool) -> None:
    where = (run.kind, row.id, row.status, row.error_code)
    assert row.cost_credits is not None and 0 <= row.cost_credits <= row.hold_credits, where
    assert row.hold_credits > 0, where
    if run.poor:
        assert row.max_tokens < MAX_TOKENS and row.hold_credits <= POOR, where
    if run.kind == "fail_early" or (row.status == "failed" and not row.text and reaped):
        # An error before the first token costs nothing.
        assert (row.prompt_tokens, row.completion_tokens, row.cost_credits) == (0, 0, 0), where
        return
    if row.status == "completed":
        assert (row.prompt_tokens, row.completion_tokens) == expected_usage(run, row), where
    else:  # the prompt and what was shown
        assert row.completion_tokens == count_tokens(row.text), where
        assert row.prompt_tokens is not None and row.prompt_tokens > 0, where
    assert row.prompt_tokens is not None and row.completion_tokens is not None
    price = pricing.cost(row.prompt_tokens, row.completion_tokens, p=P, c=C)
    assert row.cost_credits == min(price, row.hold_credits), where


def check_outcome(run: Run, row: TutorRun, reaped: bool) -> None:
    where = (run.kind, row.id, row.status, row.error_code, row.text[:40])
    assert row.status in END_STATUSES and row.finished_at is not None, where
    if reaped:
        assert (row.status, row.error_code) == ("failed", "tutor.interrupted"), where
    elif run.kind in {"normal", "drop"}:
        assert row.status == "completed", where
        expected = "".join(split_tokens(run.script.reply or "")[: row.max_tokens])
        assert row.text == expected, where
    elif run.kind == "stop":
        assert (row.status, row.finish_reason) == ("stopped", "stopped") and row.text, where
    else:
        assert row.status == "failed", where
    if run.kind == "fail_early":
        assert row.text == "", where
    if run.kind == "kill":
        assert reaped, where


async def check_runs(
    runtime: Runtime, runs: list[Run], in_flight: dict[int, TutorRun]
) -> dict[int, TutorRun]:
    rows = await statuses(runtime, runs)
    async with runtime.db.read() as session:
        answers = (
            await session.scalars(select(TutorMessage).where(TutorMessage.role == "assistant"))
        ).all()
        busy = await session.scalar(
            select(func.count())
            .select_from(Conversation)
            .where(Conversation.active_run_id.is_not(None))
        )
    assert busy == 0
    by_run = defaultdict(list)
    for message in answers:
        by_run[message.run_id].append(message)
    for run in runs:
        row = rows[run.run_id]
        reaped = row.id in in_flight
        # Never sent to a provider twice, whatever re-ran its job.
        assert len(run.requests) == 1, (run.kind, row.id, len(run.requests))
        check_outcome(run, row, reaped)
        check_charge(run, row, reaped)
        stored = by_run.pop(row.id, [])
        if row.status == "failed" and not row.text:
            assert stored == [], (run.kind, row.id)
        else:
            assert [(m.body, m.cost_credits) for m in stored] == [(row.text, row.cost_credits)]
    assert not by_run, by_run
    return rows


async def check_streams(
    redis: Redis, runs: list[Run], rows: dict[int, TutorRun], in_flight: dict[int, TutorRun]
) -> None:
    """What each learner's event stream carries: the deltas shown, each once, then one end."""
    for run in runs:
        row = rows[run.run_id]
        entries = await redis.xrange(f"{RUN_PREFIX}:events:user:{run.user_id}")
        events = [(e[b"type"].decode(), orjson.loads(e[b"data"])) for _, e in entries]
        mine = [(t, d) for t, d in events if t.startswith("tutor.") and d["run_id"] == row.id]
        deltas = [d for t, d in mine if t == "tutor.delta"]
        ends = [(t, d) for t, d in mine if t in {"tutor.completed", "tutor.failed"}]
        where = (run.kind, row.id, row.status, [t for t, _ in ends])
        assert [d["seq"] for d in deltas] == list(range(1, len(deltas) + 1)), where
        assert len(ends) == 1 and mine[-1] == ends[0], where
        end_type, end = ends[0]
        assert end_type == ("tutor.failed" if row.status == "failed" else "tutor.completed"), where
        assert (end["seq"], end["cost_credits"]) == (row.seq + 1, row.cost_credits), where
        shown = "".join(d["text"] for d in deltas)
        if row.id in in_flight:  # billed from the last checkpoint: never more than was shown
            assert shown.startswith(row.text) and row.seq <= len(deltas), where
        else:  # billed for exactly what was shown
            assert (shown, len(deltas)) == (row.text, row.seq), where


async def check_ledger(runtime: Runtime, runs: list[Run], rows: dict[int, TutorRun]) -> None:
    """One hold and one settlement per run, their legs as the charge says; balances = entries."""
    refs = {f"{run.user_id}:tutor.run:{run.run_id}": run for run in runs}
    async with runtime.db.read() as session:
        accounts = {
            a.id: a
            for a in await session.scalars(
                select(LedgerAccount).where(LedgerAccount.purpose.like("credits%"))
            )
        }
        txs = (
            await session.scalars(
                select(LedgerTransaction).where(LedgerTransaction.reference.in_(list(refs)))
            )
        ).all()
        legs = (
            await session.execute(
                select(
                    LedgerEntry.transaction_id, LedgerEntry.account_id, LedgerEntry.amount
                ).where(LedgerEntry.transaction_id.in_([t.id for t in txs]))
            )
        ).all()
        own = dict(
            (
                await session.execute(
                    select(LedgerEntry.account_id, func.sum(LedgerEntry.amount)).group_by(
                        LedgerEntry.account_id
                    )
                )
            ).all()
        )
        shards = dict(
            (
                await session.execute(
                    select(
                        LedgerAccountShard.account_id, func.sum(LedgerAccountShard.balance)
                    ).group_by(LedgerAccountShard.account_id)
                )
            ).all()
        )
        everything = await session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount), 0)))
        checked = await audit(session)
    assert checked.ok, checked
    assert int(everything or 0) == 0

    def named(account_id: int) -> str:
        account = accounts[account_id]
        return "wallet" if account.owner_type == "user" else account.purpose

    moved: dict[int, Counter[str]] = defaultdict(Counter)
    for transaction_id, account_id, amount in legs:
        moved[transaction_id][named(account_id)] += amount
    kinds = Counter((t.kind, t.reference) for t in txs)
    assert set(kinds.values()) == {1}, [k for k, n in kinds.items() if n > 1]
    assert len(txs) == 2 * len(runs), Counter(t.kind for t in txs)
    for tx in txs:
        row = rows[refs[tx.reference].run_id]
        hold, cost = row.hold_credits, row.cost_credits or 0
        if tx.kind == "wallet.hold":
            expected = Counter({"wallet": -hold, "credits_held": hold})
        else:
            assert tx.kind == "wallet.settle", tx.kind
            expected = Counter(
                {"credits_held": -hold, "wallet": hold - cost, "credits_spent": cost}
            )
        assert +moved[tx.id] == +expected, (tx.kind, row.id, moved[tx.id], expected)

    by_user = {run.user_id: run for run in runs}
    for account in accounts.values():
        balance = account.balance + int(shards.get(account.id, 0))
        assert balance == int(own.get(account.id, 0)), (account.purpose, account.owner_id)
        if account.owner_type == "user":
            run = by_user[account.owner_id]
            paid = rows[run.run_id].cost_credits or 0
            assert balance == run.given - paid >= 0, (account.owner_id, balance, run.given, paid)
        elif account.purpose == "credits_held":
            assert balance == 0, "credits still held after every run settled"


# --- the reaper and a live worker ----------------------------------------------------------------


async def run_now(runtime: Runtime, run_id: int) -> TutorRun:
    async with runtime.db.read() as session:
        found = await session.get(TutorRun, run_id)
        assert found is not None
        return found


async def test_a_run_claimed_after_the_reaper_listed_it_is_left_to_its_worker(
    start_web: StartWeb,
    start_worker: StartWorker,
    reaper: Runtime,
    http: aiohttp.ClientSession,
    fake_ai: FakeAIProvider,
) -> None:
    """`jobs.tutor.reap` lists the lost runs, then finishes them one by one, each in its own
    transaction: here the two steps, with a worker claiming the run in between (its job waited
    in the queue long enough to be given up, as under a backlog or while workers restart)."""
    fake_ai.script = Script(reply="".join(f"w{i} " for i in range(30)), token_interval=0.1)
    env = tutor_env(fake_ai)
    web = await start_web(**env)
    persona_id = await insert_persona(reaper, p=P, c=C, max_output_tokens=MAX_TOKENS)
    user_id, token = await learner(http, web)
    await give(reaper, user_id, RICH)
    chat = await open_conversation(http, web, token, persona_id)
    run_id = await ask(http, web, token, chat, "What is a limit?")
    # No tutor worker yet: the run waits long enough to be given up.
    waited = reaper.clock.now() - timedelta(seconds=REAP_AFTER * settle.GIVE_UP_FACTOR + 1)
    async with reaper.db.unit_of_work() as uow:
        await uow.session.execute(
            update(TutorRun).where(TutorRun.id == run_id).values(created_at=waited)
        )
    async with reaper.db.read() as session:
        listed = await settle.lost_runs(
            session, now=reaper.clock.now(), after_seconds=REAP_AFTER, limit=10
        )
    assert listed == [run_id]

    await start_tutor_worker(start_worker, env)  # claims the run and starts answering

    async def answering() -> bool:
        return bool((await run_now(reaper, run_id)).text)

    await eventually(answering, 20, what="the worker answering")
    async with reaper.db.unit_of_work() as uow:
        ended = await settle.reap(
            uow, run_id=run_id, settings=reaper.settings, now=reaper.clock.now()
        )
    assert ended is None, f"a live run was reaped: {ended}"

    async def done() -> bool:
        return (await run_now(reaper, run_id)).status not in ACTIVE_STATUSES

    await eventually(done, 20, what="the worker finishing its run")
    row = await run_now(reaper, run_id)
    assert (row.status, row.text) == ("completed", fake_ai.script.reply)
    assert row.prompt_tokens is not None and row.completion_tokens == 30
    assert row.cost_credits == pricing.cost(row.prompt_tokens, 30, p=P, c=C)
