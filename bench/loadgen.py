"""Load generation: wrk on its own CPU (installed on demand), or a Python fallback.

Both report through one ``BENCH_JSON {...}`` line (bench/wrk_report.lua, bench/pyload.py), parsed
into a ``LoadResult``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Literal

import orjson

from bench.common import PYTHON, REPO, BenchError, LoadgenChoice, log, pinned, tail

WRK_SCRIPT = REPO / "bench" / "wrk_report.lua"


@dataclass(frozen=True)
class LoadResult:
    """One measurement: a load generator run for ``duration_s`` against one URL."""

    requests: int
    duration_s: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    socket_errors: int  # connect + read + write + timeout
    non_2xx: int  # answers outside 2xx/3xx

    def to_json(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class LoadGenerator:
    kind: Literal["wrk", "python"]
    executable: str
    threads: int = 1

    def describe(self, connections: int) -> str:
        if self.kind == "wrk":
            return f"wrk -t{self.threads} -c{connections}"
        return f"python aiohttp client, {connections} connections (client-bound)"

    def run(
        self, url: str, connections: int, duration: float, headers: Mapping[str, str]
    ) -> LoadResult:
        flag = "-H" if self.kind == "wrk" else "--header"
        header_args = [arg for name, value in headers.items() for arg in (flag, f"{name}: {value}")]
        if self.kind == "wrk":
            seconds = max(1, round(duration))
            argv = [
                self.executable,
                f"-t{self.threads}",
                f"-c{connections}",
                f"-d{seconds}s",
                "--timeout",
                "5s",
                "-s",
                str(WRK_SCRIPT),
                *header_args,
                url,
            ]
        else:
            argv = [
                self.executable,
                "-m",
                "bench.pyload",
                "--url",
                url,
                "--connections",
                str(connections),
                "--duration",
                str(duration),
                *header_args,
            ]
        return _run_and_parse(pinned(argv, "loadgen"), timeout=duration + 30)


def _run_and_parse(argv: list[str], timeout: float) -> LoadResult:
    try:
        done = subprocess.run(
            argv, cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"load generator timed out: {' '.join(argv)}") from exc
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if done.returncode != 0 or line is None:
        raise BenchError(
            f"load generator failed (exit {done.returncode}): {tail(done.stdout + done.stderr)}"
        )
    return parse_report(line.removeprefix("BENCH_JSON "))


def parse_report(payload: str) -> LoadResult:
    data = orjson.loads(payload)
    duration_s = data["duration_us"] / 1e6
    requests = int(data["requests"])
    return LoadResult(
        requests=requests,
        duration_s=duration_s,
        rps=requests / duration_s if duration_s else 0.0,
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        socket_errors=int(data["connect"] + data["read"] + data["write"] + data["timeout"]),
        non_2xx=int(data["non_2xx"]),
    )


def ensure_wrk() -> str | None:
    """The wrk executable, installed with apt-get (as root) when missing; None if impossible."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        log("wrk is missing and cannot be installed here (needs root and apt-get)")
        return None
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "wrk"]
    for step in (install, ["apt-get", "update", "-q"], install):
        log(f"installing wrk: {' '.join(step)}")
        try:
            subprocess.run(step, env=env, capture_output=True, timeout=600, check=True)
        except (subprocess.SubprocessError, OSError) as exc:
            log(f"  failed: {exc}")
            continue
        if step is install and (found := shutil.which("wrk")):
            return found
    return shutil.which("wrk")


def resolve(choice: LoadgenChoice) -> LoadGenerator:
    if choice in ("auto", "wrk"):
        wrk = ensure_wrk()
        if wrk:
            return LoadGenerator("wrk", wrk)
        if choice == "wrk":
            raise BenchError("wrk is required (--loadgen wrk) but could not be installed")
        log("falling back to the Python load generator; figures are client-bound")
    return LoadGenerator("python", PYTHON)
