"""B7: memory per idle Socket.IO connection, ours vs the Node socket.io peer.

For each server in turn: one instance starts (pinned to the server CPU); the Node load client
(socket.io-client, websocket transport) connects a few warm-up sockets first, so one-off costs
(imports, caches, the first handshake) fall before the baseline; the server's VmRSS
(/proc/<pid>/status) is read; N more sockets connect and stay idle; after a short settle the
VmRSS is read again. KB per connection = (after - before) / N.

Ours runs as in B4 (MariaDB, Redis, every socket signed in as one bench user, so it sits in one
``user:<id>`` room); the peer is bench/peers/node/server.mjs on its own Redis key prefix, one
room. Goal (QUALITY.md B7): <= 20 KB per connection (Node measured 23 KB), stated here as the
ratio ours/node <= 20/23.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable

from bench.common import (
    BenchError,
    Benchmark,
    Options,
    RunningServer,
    describe_pinning,
    log,
    start_server,
)
from bench.report import BenchResult, Goal, PeerResult
from bench.sockets import (
    bench_user,
    ensure_node_packages,
    load_client,
    node_server_spec,
    ours_context,
    raise_open_files,
    server_pid,
    start_ours,
    vm_rss_kb,
    wait_ready,
)

FULL_CLIENTS = 10_000
SMOKE_CLIENTS = 200
WARMUP_CLIENTS = 50
SETTLE_SECONDS = 3.0
SMOKE_SETTLE_SECONDS = 0.5
GOAL_KB = 20.0
NODE_MEASURED_KB = 23.0
PEERS = ("ours", "node")
LABELS = {
    "ours": "ShareStack: python-socketio + realtime/",
    "node": "Node socket.io 4 + @socket.io/redis-adapter",
}

Starter = Callable[[contextlib.ExitStack], tuple[RunningServer, str]]


def start_ours_one(stack: contextlib.ExitStack) -> tuple[RunningServer, str]:
    env, _keys = stack.enter_context(ours_context())
    server = start_ours(env, stack)
    token, _user_id = bench_user(server)
    return server, token


def start_node_one(stack: contextlib.ExitStack) -> tuple[RunningServer, str]:
    spec = node_server_spec(f"bench-{os.getpid()}:sio", LABELS["node"])
    return start_server(spec, {}, stack), "bench"


def measure(
    server: RunningServer, token: str, clients: int, settle: float, stack: contextlib.ExitStack
) -> dict[str, float]:
    client = load_client([server.base_url], clients + WARMUP_CLIENTS, token, stack, WARMUP_CLIENTS)
    warm = client.expect("warm", 60)
    if warm.get("failed"):
        raise BenchError(f"warm-up sockets failed: {warm.get('errors')}")
    time.sleep(settle)
    pid = server_pid(server)
    before = vm_rss_kb(pid)
    client.send("go")
    ready = wait_ready(client, clients + WARMUP_CLIENTS, timeout=60 + clients / 50)
    time.sleep(settle)
    after = vm_rss_kb(pid)
    if not server.alive():
        raise BenchError(f"the server died: {server.log_tail()}")
    log(f"b7: {clients} sockets in {ready['connect_s']:.1f} s, VmRSS {before} -> {after} KB")
    return {
        "rss_before_kb": float(before),
        "rss_after_kb": float(after),
        "kb_per_connection": (after - before) / clients,
        "connect_s": float(ready["connect_s"]),
    }


def run(options: Options) -> BenchResult:
    clients = options.clients or (SMOKE_CLIENTS if options.smoke else FULL_CLIENTS)
    settle = SMOKE_SETTLE_SECONDS if options.smoke else SETTLE_SECONDS
    limit = raise_open_files(clients + WARMUP_CLIENTS + 1024)
    if limit < clients + WARMUP_CLIENTS + 64:
        raise BenchError(f"open files limited to {limit}: too few for {clients} sockets")
    ensure_node_packages()
    starters: dict[str, Starter] = {"ours": start_ours_one, "node": start_node_one}
    peers: list[PeerResult] = []
    for name in [n for n in PEERS if options.only is None or n in options.only]:
        peer = PeerResult(name, LABELS[name])
        peers.append(peer)
        log(f"b7: {name}: {clients} idle sockets on one instance")
        try:
            with contextlib.ExitStack() as stack:
                server, token = starters[name](stack)
                peer.figures.update(measure(server, token, clients, settle, stack))
        except BenchError as exc:
            peer.error = str(exc)
            log(f"b7: {name}: {exc}")
    header = f"{'name':<6} {'server':<44} {'RSS before':>11} {'RSS after':>11} {'KB/conn':>8}"
    lines = [header, "-" * len(header)]
    for peer in peers:
        start = f"{peer.name:<6} {peer.label:<44}"
        if peer.error:
            lines.append(f"{start} ERROR: {peer.error}")
            continue
        f = peer.figures
        lines.append(
            f"{start} {f['rss_before_kb']:>8,.0f} KB {f['rss_after_kb']:>8,.0f} KB "
            f"{f['kb_per_connection']:>8.1f}"
        )
    ours = next((p for p in peers if p.name == "ours" and not p.error), None)
    notes = [f"goal: <= {GOAL_KB:.0f} KB per connection (Node measured {NODE_MEASURED_KB:.0f} KB)"]
    if ours is not None:
        kb = ours.figures["kb_per_connection"]
        notes.append(f"ours {kb:.1f} KB per connection: {'PASS' if kb <= GOAL_KB else 'MISS'}")
    return BenchResult(
        id="b7",
        title="Memory per idle Socket.IO connection",
        method=(
            f"{clients} idle socket.io-client sockets (websocket) on one instance after "
            f"{WARMUP_CLIENTS} warm-up ones; VmRSS delta / {clients}; {describe_pinning()}"
        ),
        peers=peers,
        goals=[
            Goal(
                "ours",
                "node",
                GOAL_KB / NODE_MEASURED_KB,
                metric="kb_per_connection",
                lower_is_better=True,
            )
        ],
        settings={"clients": clients, "warmup_clients": WARMUP_CLIENTS, "settle_s": settle},
        notes=notes,
        table=lines,
    )


BENCHMARK = Benchmark(id="b7", title="Memory per idle Socket.IO connection", run=run)
