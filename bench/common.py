"""Servers under test: free ports, CPU pinning, start with a readiness wait, stop, clean up.

Every server runs in its own session (process group), pinned to one CPU; the load generator
runs on another (``cpu_plan``). Servers are stopped when their ``ExitStack`` closes and, as a
last resort, at interpreter exit, so neither Ctrl-C nor an error leaves a process behind.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from bench.report import BenchResult

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO / "bench" / "results"
LOG_DIR = RESULTS_DIR / "logs"
PYTHON = sys.executable
HOST = "127.0.0.1"

LoadgenChoice = Literal["auto", "wrk", "python"]
Role = Literal["server", "loadgen"]
EnvFactory = Callable[[], contextlib.AbstractContextManager[Mapping[str, str]]]


class BenchError(Exception):
    """A benchmark step failed in a way worth one clear line in the report."""


def log(message: str) -> None:
    """Progress goes to stderr so stdout holds only the tables."""
    print(message, file=sys.stderr, flush=True)


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@functools.cache
def cpu_plan() -> dict[Role, int] | None:
    """The first two CPUs this process may use: servers on one, load generator on the other.

    None when they cannot be pinned (no ``taskset`` or a single CPU).
    """
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if shutil.which("taskset") is None or len(allowed) < 2:
        return None
    return {"server": allowed[0], "loadgen": allowed[1]}


def describe_pinning() -> str:
    plan = cpu_plan()
    if plan is None:
        return "not pinned (needs taskset and 2+ CPUs): servers and load share CPUs"
    return f"servers on CPU {plan['server']}, load on CPU {plan['loadgen']}"


def pinned(argv: Sequence[str], role: Role) -> list[str]:
    """``argv`` run on the CPU of ``role`` with ``taskset``, or unchanged if it cannot be pinned."""
    plan = cpu_plan()
    if plan is None:
        return list(argv)
    return ["taskset", "-c", str(plan[role]), *argv]


def http_get(
    url: str, headers: Mapping[str, str] | None = None, timeout: float = 2.0
) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body); a non-2xx answer is returned, not raised."""
    request = urllib.request.Request(url, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers.items()), exc.read()


def run_command(argv: Sequence[str], env: Mapping[str, str], what: str, timeout: float) -> None:
    """Run a one-off step (such as migrations); BenchError with its output tail on failure."""
    try:
        done = subprocess.run(
            list(argv),
            cwd=REPO,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"{what} timed out after {timeout:.0f} s") from exc
    if done.returncode != 0:
        raise BenchError(
            f"{what} failed (exit {done.returncode}): {tail(done.stdout + done.stderr)}"
        )


def tail(text: str, lines: int = 6) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return " | ".join(kept) if kept else "(no output)"


@dataclass(frozen=True)
class ServerSpec:
    """How to start one server under test on a given port."""

    name: str  # short key used in tables and ratios: "ours", "floor", "peer"
    label: str  # what it is, for the table
    argv: Callable[[int], list[str]]
    environment: EnvFactory = field(default=lambda: contextlib.nullcontext({}))
    ready_path: str = "/healthz"
    start_timeout: float = 30.0


@dataclass(eq=False)
class RunningServer:
    spec: ServerSpec
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    keep_log: bool = False  # set when something went wrong; clean runs leave no log behind

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self) -> str:
        try:
            return tail(self.log_path.read_text(errors="replace"))
        except OSError:
            return "(no log)"

    def stop(self, grace: float = 5.0) -> None:
        _LIVE.discard(self)
        if self.process.poll() is None:
            _signal_group(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=grace)
        # Whatever the leader did, no child it forked may outlive it.
        _signal_group(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=grace)
        if not self.keep_log:
            self.log_path.unlink(missing_ok=True)


_LIVE: set[RunningServer] = set()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


@atexit.register
def _stop_all() -> None:
    for server in list(_LIVE):
        server.stop(grace=2.0)


def install_signal_handlers() -> None:
    """Turn SIGTERM and SIGHUP into SystemExit, so cleanup runs as it does on Ctrl-C."""

    def _exit(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _exit)


def start_server(
    spec: ServerSpec, env: Mapping[str, str], stack: contextlib.ExitStack
) -> RunningServer:
    """Start ``spec`` on a free port pinned to the server CPU; return once it answers its probe."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = LOG_DIR / f"{spec.name}-{os.getpid()}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            pinned(spec.argv(port), "server"),
            cwd=REPO,
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = RunningServer(spec, port, process, log_path)
    _LIVE.add(server)
    stack.callback(server.stop)
    try:
        _wait_ready(server)
    except BenchError:
        server.keep_log = True
        raise
    return server


def _wait_ready(server: RunningServer) -> None:
    url = server.base_url + server.spec.ready_path
    deadline = time.monotonic() + server.spec.start_timeout
    last = "no answer"
    while time.monotonic() < deadline:
        code = server.process.poll()
        if code is not None:
            raise BenchError(
                f"exited with code {code} before answering {server.spec.ready_path}; "
                f"log {server.log_path}: {server.log_tail()}"
            )
        try:
            status, _, _ = http_get(url, timeout=1.0)
        except OSError as exc:
            last = str(exc)
        else:
            if status == 200:
                return
            last = f"HTTP {status}"
        time.sleep(0.1)
    raise BenchError(
        f"not ready after {server.spec.start_timeout:.0f} s ({server.spec.ready_path}: {last}); "
        f"log {server.log_path}: {server.log_tail()}"
    )


@dataclass(frozen=True)
class Options:
    """How long and how hard every benchmark runs; ``smoke`` only proves nothing rotted."""

    rounds: int = 5
    duration: float = 10.0  # seconds measured per peer per round
    warmup: float = 2.0  # seconds of load discarded before each measurement
    connections: int = 64
    smoke: bool = False
    loadgen: LoadgenChoice = "auto"
    only: frozenset[str] | None = None  # peer names to run; None for all
    clients: int | None = None  # Socket.IO clients (B4, B7); None for each benchmark's own
    rates: tuple[float, ...] | None = None  # B4 broadcast rates per second
    overridden: frozenset[str] = frozenset()  # option names given on the command line


@dataclass(frozen=True)
class Benchmark:
    """One entry of the registry in bench/__main__.py."""

    id: str
    title: str
    run: Callable[[Options], BenchResult]
