"""B8: 200 concurrent wallet consumes on one wallet: no overspend; ops/s.

Ours is the real server (``python -m server serve``) on B8's own database
(``sharestack_test_bench_b8``, dropped, made anew and migrated on every run, so its schema is
always the code's and the shared bench database is left alone). Each round tops one
user's wallet up to ``BALANCE`` credits (a ledger posting made by this process through the wallet
service), then fires ``CONSUMES`` concurrent ``POST /api/v1/wallet/consume`` of 1 credit, each with
its own reference, over that many connections. Exactly ``BALANCE`` must succeed, the rest answer
409 ``wallet.insufficient_funds``; afterwards the balance must be 0 and equal the sum of the
wallet's ledger entries, with no entry's ``balance_after`` below zero. Figures: answered consumes
per second (wall time from the first request to the last answer), successful consumes per second,
and latency percentiles. There is no peer: the goal is correctness, the rate is reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import aiohttp

from bench.b2_me import register_user
from bench.common import (
    HOST,
    PYTHON,
    BenchError,
    Benchmark,
    Options,
    ServerSpec,
    cpu_plan,
    describe_pinning,
    log,
    start_server,
)
from bench.report import BenchResult, PeerResult
from bench.stores import (
    ours_environment,
)

CONSUMES = 200
BALANCE = 100
HUGE_LIMIT = "100000000/minute"
POOL_SIZE = 20
LABEL = "ShareStack: guarded ledger posting, row lock"
# B8's own database, beside the shared bench database (dropped and made anew per run).
B8_DATABASE = "sharestack_test_bench_b8"


@dataclass
class Round:
    elapsed_s: float
    ok: int
    refused: int
    other: dict[int, int]
    latencies_ms: list[float] = field(default_factory=list)
    balance: int = 0
    ledger_sum: int = 0
    lowest_after: int = 0

    @property
    def rps(self) -> float:
        return (self.ok + self.refused + sum(self.other.values())) / self.elapsed_s

    def faults(self) -> list[str]:
        found = []
        if self.ok != BALANCE:
            found.append(f"{self.ok} consumes succeeded, not {BALANCE}")
        if self.other:
            found.append(f"unexpected answers {self.other}")
        if self.balance != 0 or self.ledger_sum != self.balance:
            found.append(f"balance {self.balance}, ledger sum {self.ledger_sum}")
        if self.lowest_after < 0:
            found.append(f"an entry left the wallet at {self.lowest_after}")
        return found


async def _top_up(database_url: str, user_id: int, reference: str) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    from server.commerce.wallet import service as wallet
    from server.db import Database

    engine = create_async_engine(database_url)
    try:
        db = Database(engine)
        async with db.unit_of_work() as uow:
            held = await wallet.balance(uow.session, user_id=user_id)
            if held < BALANCE:
                await wallet.credit(
                    uow,
                    user_id=user_id,
                    amount=BALANCE - held,
                    kind="credits.grant",
                    reference=reference,
                )
    finally:
        await engine.dispose()


async def _audit(database_url: str, user_id: int) -> tuple[int, int, int]:
    """(balance, sum of the wallet's entries, lowest balance_after)."""
    from sqlalchemy import func, select
    from sqlalchemy.ext.asyncio import create_async_engine

    from models.commerce.ledger import LedgerAccount, LedgerEntry

    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            account = (
                await conn.execute(
                    select(LedgerAccount.id, LedgerAccount.balance).where(
                        LedgerAccount.owner_type == "user",
                        LedgerAccount.owner_id == user_id,
                        LedgerAccount.purpose == "credits",
                    )
                )
            ).one()
            total, lowest = (
                await conn.execute(
                    select(
                        func.coalesce(func.sum(LedgerEntry.amount), 0),
                        func.min(LedgerEntry.balance_after),
                    ).where(LedgerEntry.account_id == account.id)
                )
            ).one()
        return int(account.balance), int(total), int(lowest or 0)
    finally:
        await engine.dispose()


async def _burst(base_url: str, token: str, tag: str) -> Round:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=CONSUMES)
    statuses: list[int] = []
    latencies: list[float] = []
    async with aiohttp.ClientSession(connector=connector, headers=headers) as http:
        # Open the connections first so the burst measures consumes, not TCP handshakes.
        async def hello() -> None:
            async with http.get(f"{base_url}/healthz") as response:
                await response.read()

        await asyncio.gather(*(hello() for _ in range(CONSUMES)))

        async def one(i: int) -> None:
            started = time.perf_counter()
            body = {"amount": 1, "reference": f"{tag}-{i}"}
            async with http.post(f"{base_url}/api/v1/wallet/consume", json=body) as response:
                await response.read()
                statuses.append(response.status)
            latencies.append((time.perf_counter() - started) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(CONSUMES)))
        elapsed = time.perf_counter() - started
    other: dict[int, int] = {}
    for status in statuses:
        if status not in (200, 409):
            other[status] = other.get(status, 0) + 1
    return Round(elapsed, statuses.count(200), statuses.count(409), other, latencies)


@contextlib.contextmanager
def _load_cpu() -> Iterator[None]:
    """Run this process (the load) on the load CPU while it fires, if it can be pinned."""
    plan = cpu_plan()
    if plan is None or not hasattr(os, "sched_setaffinity"):
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {plan["loadgen"]})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def _measure(options: Options) -> list[Round]:
    env_extra = {
        "RATE_LIMIT_ACCOUNT": HUGE_LIMIT,
        "DATABASE_POOL_SIZE": str(POOL_SIZE),
        "ACCESS_TOKEN_SECONDS": "86400",
    }
    spec = ServerSpec(
        name="ours",
        label=LABEL,
        argv=lambda port: [PYTHON, "-m", "server", "serve", "--host", HOST, "--port", str(port)],
    )
    rounds: list[Round] = []
    with contextlib.ExitStack() as stack:
        env = stack.enter_context(ours_environment(env_extra, own_database=B8_DATABASE))
        server = start_server(spec, env, stack)
        token, user = register_user(server.base_url)
        user_id = int(user["id"])
        tag = f"b8-{os.getpid()}-{int(time.time())}"
        warmups = 0 if options.smoke or options.warmup <= 0 else 1
        for number in range(warmups + options.rounds):
            asyncio.run(_top_up(env["DATABASE_URL"], user_id, f"{tag}:{number}"))
            with _load_cpu():
                measured = asyncio.run(_burst(server.base_url, token, f"{tag}-{number}"))
            measured.balance, measured.ledger_sum, measured.lowest_after = asyncio.run(
                _audit(env["DATABASE_URL"], user_id)
            )
            kind = "warm-up" if number < warmups else f"round {number - warmups + 1}"
            log(f"b8: {kind}: {measured.ok} ok, {measured.refused} refused, {measured.rps:,.0f}/s")
            faults = measured.faults()
            if faults:
                raise BenchError("overspend or error: " + "; ".join(faults))
            if number >= warmups:
                rounds.append(measured)
    return rounds


def run(options: Options) -> BenchResult:
    peer = PeerResult("ours", LABEL)
    rounds: list[Round] = []
    try:
        rounds = _measure(options)
    except BenchError as exc:
        peer.error = str(exc)
        log(f"b8: {exc}")
    header = (
        f"{'name':<6} {'server':<44} {'ops/s':>8} {'ok/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'ok':>4} {'409':>4}  by round"
    )
    lines = [header, "-" * len(header)]
    if peer.error or not rounds:
        lines.append(f"{'ours':<6} {LABEL:<44} ERROR: {peer.error}")
    else:
        ops = statistics.median(r.rps for r in rounds)
        ok_rate = statistics.median(r.ok / r.elapsed_s for r in rounds)
        p50 = statistics.median(_percentile(r.latencies_ms, 0.5) for r in rounds)
        p99 = statistics.median(_percentile(r.latencies_ms, 0.99) for r in rounds)
        peer.figures.update({"ops_per_s": ops, "ok_per_s": ok_rate, "p50_ms": p50, "p99_ms": p99})
        lines.append(
            f"{'ours':<6} {LABEL:<44} {ops:>8,.0f} {ok_rate:>8,.0f} {p50:>7.1f} {p99:>7.1f} "
            f"{rounds[-1].ok:>4} {rounds[-1].refused:>4}  "
            + " ".join(f"{r.rps:,.0f}" for r in rounds)
        )
    verdict = "PASS" if rounds and not peer.error else "FAIL"
    return BenchResult(
        id="b8",
        title="200 concurrent wallet consumes on one wallet",
        method=(
            f"{CONSUMES} concurrent POST /api/v1/wallet/consume of 1 credit against {BALANCE}, "
            f"one connection each, per round; {describe_pinning()}"
        ),
        peers=[peer],
        goals=[],
        settings={"consumes": CONSUMES, "balance": BALANCE, "rounds": len(rounds)},
        notes=[f"no overspend (exactly {BALANCE} succeed, balance 0 == ledger sum): {verdict}"],
        table=lines,
        detail={
            "rounds": [
                {
                    "elapsed_s": r.elapsed_s,
                    "ok": r.ok,
                    "refused": r.refused,
                    "ops_per_s": r.rps,
                    "p50_ms": _percentile(r.latencies_ms, 0.5),
                    "p99_ms": _percentile(r.latencies_ms, 0.99),
                }
                for r in rounds
            ]
        },
    )


BENCHMARK = Benchmark(id="b8", title="200 concurrent wallet consumes on one wallet", run=run)
