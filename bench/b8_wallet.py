"""B8: wallet consumes under concurrency, one wallet and 200 at once: no overspend; ops/s.

Ours is the real server (``python -m server serve``) on B8's own database
(``sharestack_test_bench_b8``, dropped, made anew and migrated on every run, so its schema is
always the code's and the shared bench database is left alone). Two kinds of round alternate:

* one wallet: the wallet is topped up to half of what is about to be spent (a ledger posting made
  by this process through the wallet service), then ``CONNECTIONS`` keep-alive connections each
  send their share of ``POST /api/v1/wallet/consume`` of 1 credit, one after the other, every one
  with its own reference: all of them spend the same wallet at once;
* many wallets: ``WALLETS`` users (distinct wallets), each topped up to half of its consumes, each
  with its own connection sending its own consumes one after the other, all at once.

Exactly the topped-up credits must be spent (per wallet), the rest answer 409
``wallet.insufficient_funds``; afterwards every wallet's balance must be 0 and equal the sum of its
ledger entries, with no entry's ``balance_after`` below zero. Anything else (a 503 included) is an
error. Figures: answered consumes per second (from the first request to the last answer),
successful consumes per second, and latency percentiles; goals (QUALITY.md B8): one wallet
>= 500 ops/s, 200 wallets >= 2,000 ops/s in all.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import aiohttp

from bench.b2_me import REGISTER_PATH
from bench.common import (
    HOST,
    PYTHON,
    BenchError,
    Benchmark,
    Options,
    RunningServer,
    ServerSpec,
    cpu_plan,
    describe_pinning,
    log,
    start_server,
)
from bench.report import BenchResult, Goal, PeerResult
from bench.stores import ours_environment

CONNECTIONS = 200
WALLETS = 200
# Consumes per connection: (full, smoke). Every wallet is topped up to half of its consumes.
ONE_WALLET_EACH = (5, 1)
MANY_WALLETS_EACH = (10, 2)
GOAL_ONE_WALLET = 500.0  # ops/s, QUALITY.md B8
GOAL_MANY_WALLETS = 2000.0
HUGE_LIMIT = "100000000/minute"
POOL_SIZE = 20
LABEL = "ShareStack: guarded ledger posting, row lock"
CONSUME_PATH = "/api/v1/wallet/consume"
# B8's own database, beside the shared bench database (dropped and made anew per run).
B8_DATABASE = "sharestack_test_bench_b8"
ONE, MANY = "one wallet", f"{WALLETS} wallets"


@dataclass
class Wallet:
    user_id: int
    token: str


@dataclass
class Round:
    kind: str
    elapsed_s: float
    # per wallet (user id): answers 200, answers 409, other statuses
    ok: dict[int, int]
    refused: dict[int, int]
    other: dict[int, int]
    topped_up: int  # credits put in each wallet before the round
    latencies_ms: list[float] = field(default_factory=list)
    server_cpu_s: float | None = None  # the server process's CPU time during the burst
    # per wallet: (balance, sum of its entries, lowest balance_after)
    audit: dict[int, tuple[int, int, int]] = field(default_factory=dict)

    @property
    def answered(self) -> int:
        return sum(self.ok.values()) + sum(self.refused.values()) + sum(self.other.values())

    @property
    def rps(self) -> float:
        return self.answered / self.elapsed_s

    @property
    def cpu_ms(self) -> float | None:
        """The server's CPU time per answered consume."""
        return None if self.server_cpu_s is None else self.server_cpu_s * 1000 / self.answered

    @property
    def ok_rps(self) -> float:
        return sum(self.ok.values()) / self.elapsed_s

    def faults(self) -> list[str]:
        found = []
        if self.other:
            found.append(f"unexpected answers {self.other}")
        for user_id, (balance, total, lowest) in self.audit.items():
            spent = self.ok.get(user_id, 0)
            if spent != self.topped_up:
                found.append(f"wallet {user_id}: {spent} consumes succeeded, not {self.topped_up}")
            if balance != 0 or total != balance:
                found.append(f"wallet {user_id}: balance {balance}, ledger sum {total}")
            if lowest < 0:
                found.append(f"wallet {user_id}: an entry left it at {lowest}")
        return found[:5]


async def _register(base_url: str, count: int) -> list[Wallet]:
    """Sign `count` fresh users up through ours' API (a few at a time)."""
    gate = asyncio.Semaphore(16)
    async with aiohttp.ClientSession() as http:

        async def one() -> Wallet:
            payload = {
                "email": f"bench-{secrets.token_hex(6)}@example.com",
                "password": secrets.token_urlsafe(12)[:16],
                "nickname": "bench",
            }
            async with gate, http.post(base_url + REGISTER_PATH, json=payload) as response:
                body = await response.json(content_type=None)
                if response.status != 201:
                    raise BenchError(f"POST {REGISTER_PATH} answered {response.status}: {body}")
            return Wallet(int(body["user"]["id"]), str(body["access_token"]))

        return list(await asyncio.gather(*(one() for _ in range(count))))


async def _top_up(database_url: str, wallets: dict[int, int], reference: str) -> None:
    """Bring each wallet (user id -> credits) up to its credits, in one transaction."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from server.commerce.wallet import service as wallet
    from server.db import Database

    engine = create_async_engine(database_url)
    try:
        async with Database(engine).unit_of_work() as uow:
            for user_id, target in wallets.items():
                held = await wallet.balance(uow.session, user_id=user_id)
                if held < target:
                    await wallet.credit(
                        uow,
                        user_id=user_id,
                        amount=target - held,
                        kind="credits.grant",
                        reference=f"{reference}:{user_id}",
                    )
    finally:
        await engine.dispose()


async def _audit(database_url: str, user_ids: list[int]) -> dict[int, tuple[int, int, int]]:
    """Per wallet: (balance, sum of its entries, lowest balance_after)."""
    from sqlalchemy import func, select
    from sqlalchemy.ext.asyncio import create_async_engine

    from models.commerce.ledger import LedgerAccount, LedgerEntry

    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(
                    LedgerAccount.owner_id,
                    LedgerAccount.balance,
                    func.coalesce(func.sum(LedgerEntry.amount), 0),
                    func.min(LedgerEntry.balance_after),
                )
                .join(LedgerEntry, LedgerEntry.account_id == LedgerAccount.id, isouter=True)
                .where(
                    LedgerAccount.owner_type == "user",
                    LedgerAccount.owner_id.in_(user_ids),
                    LedgerAccount.purpose == "credits",
                )
                .group_by(LedgerAccount.id, LedgerAccount.owner_id, LedgerAccount.balance)
            )
            found = {
                int(owner): (int(balance), int(total), int(lowest or 0))
                for owner, balance, total, lowest in rows
            }
    finally:
        await engine.dispose()
    missing = set(user_ids) - set(found)
    if missing:
        raise BenchError(f"no wallet for users {sorted(missing)[:5]}")
    return found


async def _burst(base_url: str, plan: list[tuple[Wallet, int]], tag: str) -> Round:
    """One connection per (wallet, consumes) of `plan`, each sending its consumes in turn."""
    connector = aiohttp.TCPConnector(limit=len(plan))
    latencies: list[float] = []
    ok: dict[int, int] = {}
    refused: dict[int, int] = {}
    other: dict[int, int] = {}
    async with aiohttp.ClientSession(connector=connector) as http:
        # Open the connections first so the burst measures consumes, not TCP handshakes.
        async def hello() -> None:
            async with http.get(f"{base_url}/healthz") as response:
                await response.read()

        await asyncio.gather(*(hello() for _ in plan))

        async def connection(number: int, wallet: Wallet, consumes: int) -> None:
            headers = {"Authorization": f"Bearer {wallet.token}"}
            for i in range(consumes):
                body = {"amount": 1, "reference": f"{tag}-{number}-{i}"}
                started = time.perf_counter()
                async with http.post(
                    base_url + CONSUME_PATH, json=body, headers=headers
                ) as response:
                    await response.read()
                    status = response.status
                latencies.append((time.perf_counter() - started) * 1000)
                if status == 200:
                    ok[wallet.user_id] = ok.get(wallet.user_id, 0) + 1
                elif status == 409:
                    refused[wallet.user_id] = refused.get(wallet.user_id, 0) + 1
                else:
                    other[status] = other.get(status, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(
            *(connection(number, wallet, each) for number, (wallet, each) in enumerate(plan))
        )
        elapsed = time.perf_counter() - started
    return Round("", elapsed, ok, refused, other, 0, latencies)


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


def _cpu_seconds(pid: int) -> float | None:
    """A process's user + system CPU time (Linux), None where it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def _round(
    server: RunningServer, database_url: str, kind: str, plan: list[tuple[Wallet, int]], tag: str
) -> Round:
    """Top the plan's wallets up to half their consumes, fire, audit."""
    per_wallet: dict[int, int] = {}
    for wallet, each in plan:
        per_wallet[wallet.user_id] = per_wallet.get(wallet.user_id, 0) + each
    top = {user_id: consumes // 2 for user_id, consumes in per_wallet.items()}
    asyncio.run(_top_up(database_url, top, tag))
    before = _cpu_seconds(server.process.pid)
    with _load_cpu():
        measured = asyncio.run(_burst(server.base_url, plan, tag))
    after = _cpu_seconds(server.process.pid)
    if before is not None and after is not None:
        measured.server_cpu_s = after - before
    measured.kind = kind
    measured.topped_up = next(iter(top.values()))
    measured.audit = asyncio.run(_audit(database_url, list(per_wallet)))
    return measured


def _measure(options: Options, faults: list[str]) -> list[Round]:
    """Every round, warm-ups left out; a round's faults go to `faults` and the rounds go on
    (so a failing run still shows its figures)."""
    env_extra = {
        "RATE_LIMIT_ACCOUNT": HUGE_LIMIT,
        "DATABASE_POOL_SIZE": str(POOL_SIZE),
        "ACCESS_TOKEN_SECONDS": "86400",
        # 200 sign-ups before the rounds: the lowest argon2 cost (development mode allows it).
        "PASSWORD_HASH_TIME_COST": "1",
        "PASSWORD_HASH_MEMORY_KIB": "64",
        "PASSWORD_HASH_PARALLELISM": "1",
    }
    spec = ServerSpec(
        name="ours",
        label=LABEL,
        argv=lambda port: [PYTHON, "-m", "server", "serve", "--host", HOST, "--port", str(port)],
    )
    one_each = ONE_WALLET_EACH[1] if options.smoke else ONE_WALLET_EACH[0]
    many_each = MANY_WALLETS_EACH[1] if options.smoke else MANY_WALLETS_EACH[0]
    rounds: list[Round] = []
    with contextlib.ExitStack() as stack:
        env = stack.enter_context(ours_environment(env_extra, own_database=B8_DATABASE))
        server = start_server(spec, env, stack)
        wallets = asyncio.run(_register(server.base_url, WALLETS))
        plans = {
            ONE: [(wallets[0], one_each)] * CONNECTIONS,
            MANY: [(wallet, many_each) for wallet in wallets],
        }
        tag = f"b8-{os.getpid()}-{int(time.time())}"
        warmups = 0 if options.smoke or options.warmup <= 0 else 1
        for number in range(warmups + options.rounds):
            for step, (kind, plan) in enumerate(plans.items()):
                measured = _round(server, env["DATABASE_URL"], kind, plan, f"{tag}-{number}-{step}")
                label = "warm-up" if number < warmups else f"round {number - warmups + 1}"
                log(
                    f"b8: {kind}, {label}: {sum(measured.ok.values())} ok, "
                    f"{sum(measured.refused.values())} refused, {measured.rps:,.0f}/s"
                )
                found = measured.faults()
                if found:
                    server.keep_log = True
                    faults.append(f"{kind}, {label}: {'; '.join(found)}")
                if number >= warmups:
                    rounds.append(measured)
        if faults:
            faults.append(f"log {server.log_path}")
    return rounds


def _shown(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _row(kind: str, rounds: list[Round]) -> tuple[str, dict[str, float]]:
    ops = statistics.median(r.rps for r in rounds)
    figures = {
        "ops_per_s": ops,
        "ok_per_s": statistics.median(r.ok_rps for r in rounds),
        "p50_ms": statistics.median(_percentile(r.latencies_ms, 0.5) for r in rounds),
        "p99_ms": statistics.median(_percentile(r.latencies_ms, 0.99) for r in rounds),
    }
    cpu = [r.cpu_ms for r in rounds if r.cpu_ms is not None]
    if cpu:
        figures["cpu_ms_per_consume"] = statistics.median(cpu)
    last = rounds[-1]
    line = (
        f"{kind:<12} {ops:>8,.0f} {figures['ok_per_s']:>8,.0f} {figures['p50_ms']:>7.1f} "
        f"{figures['p99_ms']:>7.1f} {_shown(figures.get('cpu_ms_per_consume')):>7} "
        f"{last.answered:>6} {sum(last.ok.values()):>5} {sum(last.refused.values()):>5}  "
        + " ".join(f"{r.rps:,.0f}" for r in rounds)
    )
    return line, figures


def run(options: Options) -> BenchResult:
    peer = PeerResult("ours", LABEL)
    # The bars, as peers of their own: each goal is ours' ops/s over its bar, >= 1.
    bars = [
        PeerResult(
            "one_bar", f"QUALITY.md B8: {ONE}", figures={"one_wallet_ops_per_s": GOAL_ONE_WALLET}
        ),
        PeerResult(
            "200_bar",
            f"QUALITY.md B8: {MANY}",
            figures={"many_wallets_ops_per_s": GOAL_MANY_WALLETS},
        ),
    ]
    rounds: list[Round] = []
    faults: list[str] = []
    try:
        rounds = _measure(options, faults)
    except BenchError as exc:
        faults.append(str(exc))
    if faults:
        peer.error = "overspend or error: " + "; ".join(faults)
        log(f"b8: {peer.error}")
    header = (
        f"{'round':<12} {'ops/s':>8} {'ok/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'cpu ms':>7} "
        f"{'sent':>6} "
        f"{'ok':>5} {'409':>5}  by round"
    )
    lines = [f"ours: {LABEL}", header, "-" * len(header)]
    notes = []
    if peer.error:
        lines.append(f"ERROR: {peer.error}")
    if rounds:
        for kind, key, goal in (
            (ONE, "one_wallet", GOAL_ONE_WALLET),
            (MANY, "many_wallets", GOAL_MANY_WALLETS),
        ):
            line, figures = _row(kind, [r for r in rounds if r.kind == kind])
            lines.append(line)
            peer.figures.update({f"{key}_{name}": value for name, value in figures.items()})
            ops = figures["ops_per_s"]
            verdict = "smoke" if options.smoke else "PASS" if ops >= goal else "MISS"
            notes.append(f"{kind}: {ops:,.0f} ops/s, goal >= {goal:,.0f}: {verdict}")
    verdict = "PASS" if rounds and not peer.error else "FAIL"
    notes.append(
        "no overspend (every wallet spent exactly what it was given, balance 0 == ledger sum, "
        f"no balance_after below 0): {verdict}"
    )
    one_each = ONE_WALLET_EACH[1] if options.smoke else ONE_WALLET_EACH[0]
    many_each = MANY_WALLETS_EACH[1] if options.smoke else MANY_WALLETS_EACH[0]
    return BenchResult(
        id="b8",
        title="Wallet consumes: 200 at once on one wallet, and 200 wallets at once",
        method=(
            f"{CONNECTIONS} keep-alive connections x {one_each} consumes of 1 credit on one "
            f"wallet; {WALLETS} wallets x {many_each} consumes, a connection each; every wallet "
            f"given half of its consumes; {describe_pinning()}"
        ),
        peers=[peer, *bars],
        goals=[
            Goal("ours", "one_bar", 1.0, metric="one_wallet_ops_per_s"),
            Goal("ours", "200_bar", 1.0, metric="many_wallets_ops_per_s"),
        ],
        settings={
            "connections": CONNECTIONS,
            "wallets": WALLETS,
            "one_wallet_consumes_each": one_each,
            "many_wallets_consumes_each": many_each,
            "rounds": len(rounds) // 2,
        },
        notes=notes,
        table=lines,
        detail={
            "rounds": [
                {
                    "kind": r.kind,
                    "elapsed_s": r.elapsed_s,
                    "ok": sum(r.ok.values()),
                    "refused": sum(r.refused.values()),
                    "ops_per_s": r.rps,
                    "ok_per_s": r.ok_rps,
                    "p50_ms": _percentile(r.latencies_ms, 0.5),
                    "p99_ms": _percentile(r.latencies_ms, 0.99),
                    "server_cpu_ms_per_consume": r.cpu_ms,
                }
                for r in rounds
            ]
        },
    )


BENCHMARK = Benchmark(
    id="b8", title="Wallet consumes: 200 at once on one wallet, and 200 wallets at once", run=run
)
