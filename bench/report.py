"""Results of one benchmark: per-peer samples, medians, goal ratios; a table and a JSON file."""

from __future__ import annotations

import datetime as dt
import os
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench.common import RESULTS_DIR, median, ratio
from bench.loadgen import LoadResult


@dataclass(frozen=True)
class Goal:
    """``numerator``'s median ``metric`` must be at least ``at_least`` times ``denominator``'s."""

    numerator: str
    denominator: str
    at_least: float
    metric: str = "rps"
    # For costs (memory per connection): the ratio must be at most ``at_least`` instead.
    lower_is_better: bool = False

    @property
    def label(self) -> str:
        return f"{self.numerator}/{self.denominator}"

    @property
    def wanted(self) -> str:
        return f"{'<=' if self.lower_is_better else '>='} {self.at_least:.2f}x"

    def met(self, value: float) -> bool:
        return value <= self.at_least if self.lower_is_better else value >= self.at_least


@dataclass
class PeerResult:
    name: str
    label: str
    samples: list[LoadResult] = field(default_factory=list)
    error: str | None = None
    # Figures of benchmarks that are not request/response (B4, B7): metric -> value.
    figures: dict[str, float] = field(default_factory=dict)

    def median(self, metric: str) -> float | None:
        if metric in self.figures:
            return self.figures[metric]
        return median([float(getattr(sample, metric)) for sample in self.samples])

    @property
    def socket_errors(self) -> int:
        return sum(sample.socket_errors for sample in self.samples)

    @property
    def non_2xx(self) -> int:
        return sum(sample.non_2xx for sample in self.samples)


@dataclass
class BenchResult:
    id: str
    title: str
    method: str  # how it was measured, one line
    peers: list[PeerResult]
    goals: list[Goal]
    settings: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # Benchmarks that are not request/response render their own table (lines) and add their
    # own detail to the JSON; ``None`` gives the req/s table.
    table: list[str] | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def peer(self, name: str) -> PeerResult | None:
        return next((peer for peer in self.peers if peer.name == name), None)

    def ratio(self, goal: Goal) -> float | None:
        top, bottom = self.peer(goal.numerator), self.peer(goal.denominator)
        if top is None or bottom is None:
            return None
        return ratio(top.median(goal.metric), bottom.median(goal.metric))

    def problems(self) -> list[str]:
        """Servers that failed to start or run, or answered with errors: these fail any run."""
        found = []
        for peer in self.peers:
            if peer.error:
                found.append(f"{self.id} {peer.name}: {peer.error}")
            elif peer.socket_errors or peer.non_2xx:
                found.append(
                    f"{self.id} {peer.name}: {peer.socket_errors} socket errors, "
                    f"{peer.non_2xx} non-2xx answers"
                )
        return found

    def misses(self) -> list[str]:
        missed = []
        for goal in self.goals:
            value = self.ratio(goal)
            if value is not None and not goal.met(value):
                missed.append(f"{self.id} {goal.label} {value:.2f}x, wanted {goal.wanted}")
        return missed

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "method": self.method,
            "settings": self.settings,
            "notes": self.notes,
            "machine": {
                "python": sys.version.split()[0],
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
            },
            "peers": [
                {
                    "name": peer.name,
                    "label": peer.label,
                    "error": peer.error,
                    "median": {
                        metric: peer.median(metric)
                        for metric in ("rps", "p50_ms", "p90_ms", "p99_ms", "max_ms")
                    },
                    "figures": peer.figures,
                    "socket_errors": peer.socket_errors,
                    "non_2xx": peer.non_2xx,
                    "samples": [sample.to_json() for sample in peer.samples],
                }
                for peer in self.peers
            ],
            "goals": [
                {
                    "ratio": goal.label,
                    "metric": goal.metric,
                    "at_least": goal.at_least,
                    "lower_is_better": goal.lower_is_better,
                    "value": self.ratio(goal),
                    "status": _status(self.ratio(goal), goal),
                }
                for goal in self.goals
            ],
            "detail": self.detail,
        }


def _status(value: float | None, goal: Goal) -> str:
    if value is None:
        return "n/a"
    return "PASS" if goal.met(value) else "MISS"


def _num(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def render(result: BenchResult) -> str:
    lines = [f"{result.id.upper()}  {result.title}", f"  {result.method}", ""]
    if result.table is not None:
        lines += [f"  {line}" for line in result.table]
    else:
        lines += _load_table(result)
    lines += ["", f"  {'ratio':<12} {'value':>7}  {'goal':<10} result"]
    for goal in result.goals:
        value = result.ratio(goal)
        shown = "-" if value is None else f"{value:.2f}x"
        lines.append(f"  {goal.label:<12} {shown:>7}  {goal.wanted:<10} {_status(value, goal)}")
    lines += [f"  note: {note}" for note in result.notes]
    return "\n".join(lines) + "\n"


def _load_table(result: BenchResult) -> list[str]:
    lines: list[str] = []
    header = (
        f"  {'name':<6} {'server':<44} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'sock err':>8} {'non-2xx':>7}  by round"
    )
    lines += [header, "  " + "-" * (len(header) - 2)]
    for peer in result.peers:
        start = f"  {peer.name:<6} {peer.label:<44}"
        if peer.error and not peer.samples:
            lines.append(f"{start} ERROR: {peer.error}")
            continue
        rounds = " ".join(f"{sample.rps:,.0f}" for sample in peer.samples)
        lines.append(
            f"{start} {_num(peer.median('rps'), ',.0f'):>8} {_num(peer.median('p50_ms'), '.2f'):>7}"
            f" {_num(peer.median('p99_ms'), '.2f'):>7} {peer.socket_errors:>8} {peer.non_2xx:>7}"
            f"  {rounds}"
        )
        if peer.error:
            lines.append(f"  {'':<6} ERROR: {peer.error}")
    return lines


def write_json(result: BenchResult, out_dir: Path = RESULTS_DIR) -> Path:
    """bench/results/<id>-<UTC time>.json, and the same as <id>-latest.json."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    payload = orjson.dumps(result.to_json(), option=orjson.OPT_INDENT_2)
    path = out_dir / f"{result.id}-{stamp}.json"
    path.write_bytes(payload)
    (out_dir / f"{result.id}-latest.json").write_bytes(payload)
    return path
