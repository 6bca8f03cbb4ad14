"""Command line: ``python -m bench [b1 ...] [--smoke]``; see bench/README.md.

Exit status: 0 when every server started and answered without errors; 1 when one did not (or a
benchmark could not run at all); 3 with ``--strict`` when a ratio missed its goal (never in smoke
mode, whose figures mean nothing).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import sys

from bench.common import BenchError, Benchmark, Options, install_signal_handlers, log
from bench.report import render, write_json

# id -> module exposing ``BENCHMARK``; B3, B5, B6 and B8 slot in here, in the order they run.
REGISTRY: dict[str, str] = {
    "b1": "bench.b1_public_json",
    "b2": "bench.b2_me",
    "b2c": "bench.b2_content",
    "b3": "bench.b3_content_list",
    "b4": "bench.b4_fanout",
    "b5": "bench.b5_payments",
    "b7": "bench.b7_idle_memory",
    "b8": "bench.b8_wallet",
    "b9": "bench.b9_tutor",
}


def load(bench_id: str) -> Benchmark:
    benchmark = importlib.import_module(REGISTRY[bench_id]).BENCHMARK
    assert isinstance(benchmark, Benchmark)
    return benchmark


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="Run ShareStack benchmarks next to their peers."
    )
    parser.add_argument("ids", nargs="*", metavar="ID", help=f"benchmarks ({', '.join(REGISTRY)})")
    parser.add_argument("--smoke", action="store_true", help="1 round, ~1 s per peer")
    parser.add_argument("--rounds", type=int, help="alternating rounds (default 5)")
    parser.add_argument("--duration", type=float, help="seconds measured per peer per round")
    parser.add_argument("--warmup", type=float, help="seconds of discarded load before each")
    parser.add_argument("--connections", type=int, help="concurrent connections (default 64)")
    parser.add_argument("--clients", type=int, help="Socket.IO clients (B4 2,000; B7 10,000)")
    parser.add_argument("--rates", help="B4 broadcasts per second, e.g. 5,10,20,40")
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--only", help="comma-separated peer names, e.g. floor,peer")
    parser.add_argument("--no-json", action="store_true", help="do not write bench/results/")
    parser.add_argument("--strict", action="store_true", help="exit 3 when a goal is missed")
    parser.add_argument("--list", action="store_true", help="list benchmarks and exit")
    args = parser.parse_args(argv)
    unknown = [bench_id for bench_id in args.ids if bench_id.lower() not in REGISTRY]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(REGISTRY)}")
    return args


def options_from(args: argparse.Namespace) -> Options:
    base = Options(rounds=1, duration=1.0, warmup=0.0, smoke=True) if args.smoke else Options()
    overrides = {
        name: getattr(args, name)
        for name in ("rounds", "duration", "warmup", "connections")
        if getattr(args, name) is not None
    }
    only = frozenset(name.strip() for name in args.only.split(",")) if args.only else None
    rates = tuple(float(rate) for rate in args.rates.split(",")) if args.rates else None
    return dataclasses.replace(
        base,
        **overrides,
        loadgen=args.loadgen,
        only=only,
        clients=args.clients,
        rates=rates,
        overridden=frozenset(overrides),
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        for bench_id in REGISTRY:
            print(f"{bench_id}  {load(bench_id).title}")
        return 0
    install_signal_handlers()
    options = options_from(args)
    problems: list[str] = []
    misses: list[str] = []
    for bench_id in [bench_id.lower() for bench_id in args.ids] or list(REGISTRY):
        benchmark = load(bench_id)
        log(f"== {bench_id}: {benchmark.title}")
        try:
            result = benchmark.run(options)
        except BenchError as exc:
            problems.append(f"{bench_id}: {exc}")
            print(f"{bench_id.upper()}  {benchmark.title}\n  ERROR: {exc}\n", flush=True)
            continue
        print(render(result), flush=True)
        if not args.no_json:
            log(f"results written to {write_json(result)}")
        problems += result.problems()
        misses += result.misses()
    if problems:
        print("problems:\n" + "\n".join(f"  {problem}" for problem in problems), flush=True)
        return 1
    if misses and args.strict and not options.smoke:
        print("goals missed:\n" + "\n".join(f"  {miss}" for miss in misses), flush=True)
        return 3
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # servers are already stopped by their ExitStack
        log("interrupted")
        sys.exit(130)
