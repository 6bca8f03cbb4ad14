"""A request/response throughput benchmark: one URL path, several servers, alternating rounds.

All servers start once, pinned to the server CPU, and stay up for the whole benchmark. Each round
loads every server in turn (warm-up, then a measurement), so drifts in the machine hit all of them
alike; the report takes medians over rounds. A server that fails to start, dies, or cannot be
measured gets an error in the report; the others still run.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import orjson

from bench import loadgen
from bench.common import (
    BenchError,
    Options,
    RunningServer,
    ServerSpec,
    describe_pinning,
    http_get,
    log,
    start_server,
)
from bench.report import BenchResult, Goal, PeerResult

# Looks at one answer (peer name, headers, body); returns notes for the report, or raises
# BenchError when the answer is unfit to measure (that server is then left out).
Inspector = Callable[[str, Mapping[str, str], bytes], list[str]]
# Runs once every server is up, before any is probed (e.g. to sign a user in through ours); gets
# the running servers and the benchmark's ExitStack, returns headers added to every request.
Preparer = Callable[[Mapping[str, RunningServer], contextlib.ExitStack], Mapping[str, str]]


@dataclass(frozen=True)
class HttpBenchmark:
    id: str
    title: str
    path: str
    servers: Sequence[ServerSpec]
    goals: Sequence[Goal]
    headers: Mapping[str, str] = field(default_factory=dict)
    inspect: Inspector | None = None
    prepare: Preparer | None = None
    # Header values shown as "<redacted>" in the JSON results (e.g. a bearer token).
    secret_headers: frozenset[str] = frozenset()


def run_http_benchmark(bench: HttpBenchmark, options: Options) -> BenchResult:
    specs = [spec for spec in bench.servers if options.only is None or spec.name in options.only]
    peers = {spec.name: PeerResult(spec.name, spec.label) for spec in specs}
    notes: list[str] = []
    load_before = os.getloadavg()[0]
    if load_before > 0.5:
        notes.append(
            f"load average was {load_before:.1f} when the run started: other work on the "
            "machine makes figures noisy"
        )
    generator = loadgen.resolve(options.loadgen)
    with contextlib.ExitStack() as stack:
        running: dict[str, RunningServer] = {}
        for spec in specs:
            server: RunningServer | None = None
            log(f"{bench.id}: starting {spec.name} ({spec.label})")
            try:
                env = stack.enter_context(spec.environment())
                server = start_server(spec, env, stack)
            except BenchError as exc:
                if server is not None:
                    server.keep_log = True
                peers[spec.name].error = str(exc)
                log(f"{bench.id}: {spec.name} failed: {exc}")
            else:
                running[spec.name] = server
        headers = dict(bench.headers)
        if bench.prepare is not None and running:
            try:
                headers.update(bench.prepare(running, stack))
            except BenchError as exc:
                for name in running:
                    peers[name].error = f"not measured: {exc}"
                log(f"{bench.id}: preparation failed: {exc}")
                running.clear()
        for name, server in list(running.items()):
            try:
                notes += _check_answer(bench, server, headers)
            except BenchError as exc:
                server.keep_log = True
                peers[name].error = str(exc)
                log(f"{bench.id}: {name} failed: {exc}")
                del running[name]
        for round_no in range(1, options.rounds + 1):
            for name, server in running.items():
                _measure(bench, options, generator, server, peers[name], round_no, headers)
    return BenchResult(
        id=bench.id,
        title=bench.title,
        method=(
            f"GET {bench.path} · {generator.describe(options.connections)} · "
            f"{options.rounds} round(s) × {options.duration:g} s, each after "
            f"{options.warmup:g} s warm-up · {describe_pinning()} · medians"
        ),
        peers=list(peers.values()),
        goals=list(bench.goals),
        settings={
            "path": bench.path,
            "headers": {
                key: "<redacted>" if key in bench.secret_headers else value
                for key, value in headers.items()
            },
            "rounds": options.rounds,
            "duration_s": options.duration,
            "warmup_s": options.warmup,
            "connections": options.connections,
            "loadgen": generator.describe(options.connections),
            "smoke": options.smoke,
            "pinning": describe_pinning(),
            "load_average_at_start": load_before,
        },
        notes=notes,
    )


def _measure(
    bench: HttpBenchmark,
    options: Options,
    generator: loadgen.LoadGenerator,
    server: RunningServer,
    peer: PeerResult,
    round_no: int,
    headers: Mapping[str, str],
) -> None:
    if peer.error:
        return
    if not server.alive():
        _died(server, peer)
        return
    url = server.base_url + bench.path
    try:
        if options.warmup > 0:
            generator.run(url, options.connections, options.warmup, headers)
        sample = generator.run(url, options.connections, options.duration, headers)
    except BenchError as exc:
        server.keep_log = True
        if not server.alive():
            _died(server, peer)
        else:
            peer.error = str(exc)
        log(f"{bench.id}: {peer.name} failed: {peer.error}")
        return
    peer.samples.append(sample)
    if not server.alive():
        _died(server, peer)
    trouble = ""
    if sample.socket_errors or sample.non_2xx:
        server.keep_log = True
        trouble = f"  socket errors {sample.socket_errors}, non-2xx {sample.non_2xx}"
    log(
        f"{bench.id} round {round_no}/{options.rounds} {peer.name:<6} {sample.rps:>9,.0f} req/s"
        f"  p50 {sample.p50_ms:6.2f} ms  p99 {sample.p99_ms:6.2f} ms{trouble}"
    )


def _died(server: RunningServer, peer: PeerResult) -> None:
    server.keep_log = True
    peer.error = (
        f"exited with code {server.process.returncode} during the run; "
        f"log {server.log_path}: {server.log_tail()}"
    )


def _check_answer(
    bench: HttpBenchmark, server: RunningServer, request_headers: Mapping[str, str]
) -> list[str]:
    """One request before measuring: it must be a 200 with a JSON body, or nothing is measured."""
    url = server.base_url + bench.path
    try:
        status, headers, body = http_get(url, request_headers)
    except OSError as exc:
        raise BenchError(f"GET {bench.path} failed: {exc}") from exc
    if status != 200:
        raise BenchError(f"GET {bench.path} answered {status}: {body[:200]!r}")
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BenchError(f"GET {bench.path} answered non-JSON: {body[:200]!r}") from exc
    return bench.inspect(server.spec.name, headers, body) if bench.inspect else []
