"""B4: Socket.IO fan-out, 2 instances on one Redis, N clients, a room broadcast at rising rates.

For each peer in turn (ours, floor, node): two instances start (pinned to the server CPU) and
share one Redis; the Node load client (bench/peers/node/loadclient.mjs, socket.io-client with
the websocket transport, on the load CPU) connects N sockets split evenly across the two and
waits until all are connected, each in the broadcast room. Then that peer's publisher runs the
rate steps: ``rate`` broadcasts a second for a few seconds each, every payload carrying its
wall-clock send time; the clients measure each delivery's latency. Per step: deliveries/s
(received / time from the step's first send to its last delivery), p50/p99 latency and lost
(broadcasts sent x clients - deliveries received).

The room: ours lets a socket join only its own ``user:<id>`` room and rooms registered in
server/app.py (only ``dashboard:platform`` for admins today), so every bench socket connects as
the same bench user and the broadcast goes to ``user:<id>``: one room of N sockets, emitted by
realtime's write-only Redis manager as a worker does. The peers get one room of N sockets too.

Goal (QUALITY.md B4): ours' deliveries/s >= 1.0x the Node peer's, each at its highest rate
whose p99 < 100 ms.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bench.common import (
    PYTHON,
    BenchError,
    Benchmark,
    Options,
    RunningServer,
    ServerSpec,
    describe_pinning,
    log,
    pinned,
    start_server,
)
from bench.report import BenchResult, Goal, PeerResult
from bench.sockets import (
    EVENT,
    NODE_DIR,
    LineProcess,
    bench_user,
    ensure_node_packages,
    load_client,
    node_executable,
    node_server_spec,
    ours_context,
    raise_open_files,
    start_ours,
    wait_ready,
)
from bench.stores import redis_url

FULL_CLIENTS = 2000
FULL_RATES = (5.0, 10.0, 20.0, 40.0)  # broadcasts/s; x 2,000 clients = 10k..80k deliveries/s
FULL_STEP_SECONDS = 5.0
FULL_GAP_SECONDS = 2.0
SMOKE_CLIENTS = 50
SMOKE_RATES = (10.0, 20.0)
SMOKE_STEP_SECONDS = 0.5
SMOKE_GAP_SECONDS = 0.3
P99_LIMIT_MS = 100.0
PEERS = ("ours", "floor", "node")
LABELS = {
    "ours": "ShareStack: python-socketio + realtime/",
    "floor": "aiohttp ws + raw Redis pub/sub (floor)",
    "node": "Node socket.io 4 + @socket.io/redis-adapter",
}


@dataclass(frozen=True)
class Plan:
    clients: int
    rates: tuple[float, ...]
    seconds: float
    gap: float

    @classmethod
    def of(cls, options: Options) -> Plan:
        if options.smoke:
            plan = cls(SMOKE_CLIENTS, SMOKE_RATES, SMOKE_STEP_SECONDS, SMOKE_GAP_SECONDS)
        else:
            plan = cls(FULL_CLIENTS, FULL_RATES, FULL_STEP_SECONDS, FULL_GAP_SECONDS)
        return cls(
            clients=options.clients or plan.clients,
            rates=options.rates or plan.rates,
            seconds=options.duration if "duration" in options.overridden else plan.seconds,
            gap=plan.gap,
        )

    def publisher_args(self) -> list[str]:
        """The steps: a discarded warm-up at the first rate, then every rate."""
        return [
            "--rates",
            ",".join(f"{rate:g}" for rate in (self.rates[0], *self.rates)),
            "--seconds",
            f"{self.seconds:g}",
            "--gap",
            f"{self.gap:g}",
        ]

    @property
    def publish_timeout(self) -> float:
        return (len(self.rates) + 1) * (self.seconds + self.gap) + 30


@dataclass
class Setup:
    """One peer's two instances and how to publish to them."""

    urls: list[str]
    token: str
    publisher: list[str]


Starter = Callable[[contextlib.ExitStack, Plan], Setup]


def _urls(servers: Sequence[RunningServer]) -> list[str]:
    return [server.base_url for server in servers]


def start_floor(stack: contextlib.ExitStack, _plan: Plan, prefix: str) -> Setup:
    channel = f"{prefix}:floor"
    redis = redis_url()
    spec = ServerSpec(
        name="floor",
        label=LABELS["floor"],
        argv=lambda port: [
            PYTHON,
            "-m",
            "bench.peers.floor_socketio",
            "--port",
            str(port),
            "--redis",
            redis,
            "--channel",
            channel,
            "--event",
            EVENT,
        ],
    )
    servers = [start_server(spec, {}, stack) for _ in range(2)]
    publisher = [PYTHON, "-m", "bench.b4_publish", "--mode", "floor", "--redis", redis]
    publisher += ["--channel", channel, "--event", EVENT]
    return Setup(_urls(servers), "bench", publisher)


def start_node(stack: contextlib.ExitStack, _plan: Plan, prefix: str) -> Setup:
    node, key, redis = node_executable(), f"{prefix}:sio", redis_url()
    spec = node_server_spec(key, LABELS["node"])
    servers = [start_server(spec, {}, stack) for _ in range(2)]
    script = str(NODE_DIR / "publish.mjs")
    publisher = [node, script, "--redis", redis, "--key", key, "--room", "bench", "--event", EVENT]
    return Setup(_urls(servers), "bench", publisher)


def start_ours_pair(stack: contextlib.ExitStack, _plan: Plan) -> Setup:
    env, _keys = stack.enter_context(ours_context())
    servers = [start_ours(env, stack, name=f"ours-{index}") for index in (1, 2)]
    token, user_id = bench_user(servers[0])
    publisher = [PYTHON, "-m", "bench.b4_publish", "--mode", "ours", "--redis", env["REDIS_URL"]]
    publisher += ["--channel", f"{env['KEY_PREFIX']}:socketio", "--room", f"user:{user_id}"]
    publisher += ["--event", EVENT]
    return Setup(_urls(servers), token, publisher)


def measure(setup: Setup, plan: Plan, stack: contextlib.ExitStack) -> list[dict[str, Any]]:
    """Connect the clients, run the publisher's steps, and return one row per step."""
    client = load_client(setup.urls, plan.clients, setup.token, stack)
    ready = wait_ready(client, plan.clients, timeout=60 + plan.clients / 50)
    log(f"b4: {ready['ready']} sockets connected in {ready['connect_s']:.1f} s")
    publisher = LineProcess(pinned(setup.publisher + plan.publisher_args(), "loadgen"), "publisher")
    stack.callback(publisher.stop)
    steps = [publisher.expect("step", plan.publish_timeout) for _ in range(len(plan.rates) + 1)]
    publisher.wait(timeout=plan.gap + 10)  # it keeps quiet for one more gap: the last step drains
    client.send("report")
    answer = client.expect("report", 30)
    if answer.get("disconnects"):
        raise BenchError(f"{answer['disconnects']} sockets were disconnected during the run")
    rows = []
    for step in steps[1:]:  # steps[0] is the warm-up
        seen = answer["report"].get(str(step["step"]), {})
        received = int(seen.get("received", 0))
        expected = int(step["sent"]) * plan.clients
        # The step's nominal length, or longer when deliveries lagged behind the sends.
        nominal = int(step["sent"]) / float(step["rate"])
        lagged = (float(seen.get("last_ms") or 0) - float(step["start_ms"])) / 1000
        elapsed = max(nominal, lagged)
        rows.append(
            {
                "rate": float(step["rate"]),
                "offered_per_s": float(step["rate"]) * plan.clients,
                "broadcasts": int(step["sent"]),
                "expected": expected,
                "received": received,
                "lost": expected - received,
                "deliveries_per_s": received / elapsed,
                "p50_ms": seen.get("p50_ms"),
                "p90_ms": seen.get("p90_ms"),
                "p99_ms": seen.get("p99_ms"),
                "max_ms": seen.get("max_ms"),
            }
        )
    return rows


def best(rows: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The highest-rate step with p99 under the limit and nothing lost."""
    good = [
        row
        for row in rows
        if row["p99_ms"] is not None and row["p99_ms"] < P99_LIMIT_MS and row["lost"] == 0
    ]
    return max(good, key=lambda row: row["rate"]) if good else None


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def table(peers: Sequence[PeerResult], results: dict[str, list[dict[str, Any]]]) -> list[str]:
    header = (
        f"{'name':<6} {'bcast/s':>7} {'offered/s':>9} {'deliv/s':>9} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'max ms':>8} {'lost':>8}"
    )
    lines = [header, "-" * len(header)]
    for peer in peers:
        lines.append(f"{peer.name:<6} {peer.label}")
        if peer.error:
            lines.append(f"{'':<6} ERROR: {peer.error}")
        for row in results.get(peer.name, []):
            lines.append(
                f"{'':<6} {row['rate']:>7g} {row['offered_per_s']:>9,.0f} "
                f"{row['deliveries_per_s']:>9,.0f} {_fmt(row['p50_ms'], '.1f'):>8} "
                f"{_fmt(row['p99_ms'], '.1f'):>8} {_fmt(row['max_ms'], '.1f'):>8} "
                f"{row['lost']:>8,}"
            )
        top = peer.figures.get("best_deliveries_per_s")
        shown = "none" if top is None else f"{top:,.0f} deliveries/s"
        lines.append(f"{'':<6} best with p99 < {P99_LIMIT_MS:.0f} ms and none lost: {shown}")
    return lines


def run(options: Options) -> BenchResult:
    plan = Plan.of(options)
    raise_open_files(2 * plan.clients + 1024)
    ensure_node_packages()
    prefix = f"bench-{os.getpid()}"
    starters: dict[str, Starter] = {
        "ours": start_ours_pair,
        "floor": lambda stack, p: start_floor(stack, p, prefix),
        "node": lambda stack, p: start_node(stack, p, prefix),
    }
    names = [name for name in PEERS if options.only is None or name in options.only]
    peers: list[PeerResult] = []
    results: dict[str, list[dict[str, Any]]] = {}
    for name in names:
        peer = PeerResult(name, LABELS[name])
        peers.append(peer)
        log(f"b4: {name}: 2 instances, {plan.clients} clients, rates {plan.rates}")
        try:
            with contextlib.ExitStack() as stack:
                setup = starters[name](stack, plan)
                rows = measure(setup, plan, stack)
        except BenchError as exc:
            peer.error = str(exc)
            log(f"b4: {name}: {exc}")
            continue
        results[name] = rows
        top = best(rows)
        if top is not None:
            peer.figures["best_deliveries_per_s"] = top["deliveries_per_s"]
            peer.figures["best_rate"] = top["rate"]
    notes = [
        "ours: every socket signs in as one bench user; the broadcast goes to user:<id> "
        "through the write-only Redis manager workers use",
        "ratio: deliveries/s at each peer's highest rate with p99 < 100 ms and none lost",
    ]
    by_name = {peer.name: peer.figures.get("best_deliveries_per_s") for peer in peers}
    floor_best, node_best = by_name.get("floor"), by_name.get("node")
    if floor_best and node_best:
        notes.append(f"floor/node {floor_best / node_best:.2f}x (no goal)")
    for name in ("ours", "node"):
        found = next((p for p in peers if p.name == name and not p.error), None)
        if found is not None and "best_deliveries_per_s" not in found.figures:
            notes.append(f"{name} kept p99 < {P99_LIMIT_MS:.0f} ms at none of the rates: no ratio")
    return BenchResult(
        id="b4",
        title="Socket.IO fan-out: 2 instances via Redis, one room broadcast at rising rates",
        method=(
            f"{plan.clients} socket.io-client sockets (websocket, one Node process) split over "
            f"2 instances; broadcasts/s {', '.join(f'{r:g}' for r in plan.rates)} for "
            f"{plan.seconds:g} s each; latency = delivery - send time; {describe_pinning()}"
        ),
        peers=peers,
        goals=[Goal("ours", "node", 1.0, metric="best_deliveries_per_s")],
        settings={
            "clients": plan.clients,
            "rates": list(plan.rates),
            "step_seconds": plan.seconds,
            "gap_seconds": plan.gap,
            "p99_limit_ms": P99_LIMIT_MS,
            "smoke": options.smoke,
        },
        notes=notes,
        table=table(peers, results),
        detail={"steps": results},
    )


BENCHMARK = Benchmark(
    id="b4",
    title="Socket.IO fan-out: 2 instances via Redis, one room broadcast at rising rates",
    run=run,
)
