"""What the Socket.IO benchmarks (B4, B7) share: the Node package, the load client, our server.

The Node peer, its publisher and the load client live in bench/peers/node (socket.io,
@socket.io/redis-adapter, @socket.io/redis-emitter, socket.io-client, pinned by its
package-lock.json); ``npm ci`` installs them when node_modules is missing or older than the lock.
The load client is a Node process driving many socket.io-client sockets and answering line
commands on stdin with JSON lines on stdout (see loadclient.mjs); ``LineProcess`` talks to it.
"""

from __future__ import annotations

import contextlib
import os
import queue
import resource
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bench.b2_me import KeyPair, key_pair, register_user
from bench.common import (
    HOST,
    PYTHON,
    REPO,
    BenchError,
    RunningServer,
    ServerSpec,
    log,
    pinned,
    start_server,
    tail,
)
from bench.stores import ours_environment, redis_url

NODE_DIR = REPO / "bench" / "peers" / "node"
EVENT = "bench.tick"
HUGE_LIMIT = "100000000/minute"


def node_executable() -> str:
    node = shutil.which("node")
    if node is None:
        raise BenchError("node is not installed (Node 18+ is needed for the Socket.IO peers)")
    return node


def ensure_node_packages() -> None:
    """``npm ci`` in bench/peers/node unless its node_modules matches package-lock.json."""
    node_modules = NODE_DIR / "node_modules"
    lock = NODE_DIR / "package-lock.json"
    marker = node_modules / ".package-lock.json"  # written by npm after every install
    if marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime:
        return
    npm = shutil.which("npm")
    if npm is None:
        raise BenchError("npm is not installed; cannot install bench/peers/node")
    log("bench/peers/node: npm ci")
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"npm ci in {NODE_DIR} failed: {tail(done.stdout + done.stderr)}")


def raise_open_files(wanted: int) -> int:
    """Raise this process's RLIMIT_NOFILE soft limit (children inherit it); the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


class LineProcess:
    """A child speaking JSON lines: commands on stdin, answers on stdout (read by a thread)."""

    def __init__(self, argv: Sequence[str], what: str, env: Mapping[str, str] | None = None):
        self.what = what
        self.process = subprocess.Popen(
            list(argv),
            cwd=REPO,
            env={**os.environ, **(env or {})},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._pump_stdout, daemon=True).start()
        threading.Thread(target=self._pump_stderr, daemon=True).start()

    def _pump_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _pump_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr.append(line)
            del self.stderr[:-20]

    def send(self, command: str) -> None:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(command + "\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise BenchError(f"{self.what} is gone: {tail(''.join(self.stderr))}") from exc

    def expect(self, key: str, timeout: float) -> dict[str, Any]:
        """The next JSON line holding ``key`` (others are skipped); BenchError on timeout/exit."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BenchError(f"{self.what}: no {key!r} within {timeout:.0f} s")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                code = self.process.wait()
                raise BenchError(
                    f"{self.what} exited ({code}) before {key!r}: {tail(''.join(self.stderr))}"
                )
            try:
                answer = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(answer, dict) and key in answer:
                return answer

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise BenchError(f"{self.what} still running after {timeout:.0f} s") from exc

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(BrokenPipeError, OSError):
                self.send("exit")
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5)
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, 9)
            self.process.wait(timeout=5)


def load_client(
    urls: Sequence[str], clients: int, token: str, stack: contextlib.ExitStack, warmup: int = 0
) -> LineProcess:
    argv = [
        node_executable(),
        str(NODE_DIR / "loadclient.mjs"),
        "--urls",
        ",".join(urls),
        "--clients",
        str(clients),
        "--token",
        token,
        "--event",
        EVENT,
        "--warmup",
        str(warmup),
    ]
    client = LineProcess(pinned(argv, "loadgen"), "the Node load client")
    stack.callback(client.stop)
    return client


def wait_ready(client: LineProcess, clients: int, timeout: float) -> dict[str, Any]:
    ready = client.expect("ready", timeout)
    if ready.get("failed") or ready.get("ready") != clients:
        raise BenchError(
            f"{ready.get('ready')} of {clients} sockets connected, {ready.get('failed')} failed: "
            f"{ready.get('errors')}"
        )
    return ready


# -- our server ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ours:
    """Our server's spec and environment for the socket benchmarks, and the bench user."""

    spec: ServerSpec
    env: Mapping[str, str]
    prefix: str


def ours_spec(name: str = "ours") -> ServerSpec:
    return ServerSpec(
        name=name,
        label="ShareStack: python-socketio + realtime/",
        argv=lambda port: [PYTHON, "-m", "server", "serve", "--host", HOST, "--port", str(port)],
    )


@contextlib.contextmanager
def ours_context() -> Iterator[tuple[Mapping[str, str], KeyPair]]:
    """Our environment (database migrated, Redis checked, a per-run KEY_PREFIX) and JWT keys."""
    with key_pair() as keys:
        extra = {
            "RATE_LIMIT_IP": HUGE_LIMIT,
            "RATE_LIMIT_ACCOUNT": HUGE_LIMIT,
            "JWT_PRIVATE_KEY_FILE": str(keys.private),
            "JWT_PUBLIC_KEY_FILE": str(keys.public),
            "ACCESS_TOKEN_SECONDS": "86400",
        }
        with ours_environment(extra) as env:
            yield env, keys


def bench_user(server: RunningServer) -> tuple[str, int]:
    """Sign a user up through ``server``: (access token, user id)."""
    token, user = register_user(server.base_url)
    log(f"registered bench user {user.get('id')}")
    return token, int(user["id"])


def start_ours(
    env: Mapping[str, str], stack: contextlib.ExitStack, name: str = "ours"
) -> RunningServer:
    return start_server(ours_spec(name), env, stack)


def node_server_spec(key: str, label: str) -> ServerSpec:
    """bench/peers/node/server.mjs on Redis key prefix ``key``; every socket joins ``bench``."""
    node, redis = node_executable(), redis_url()

    def argv(port: int) -> list[str]:
        server = str(NODE_DIR / "server.mjs")
        return [node, server, "--host", HOST, "--port", str(port), "--redis", redis]

    return ServerSpec(
        name="node", label=label, argv=lambda port: [*argv(port), "--key", key, "--room", "bench"]
    )


def vm_rss_kb(pid: int) -> int:
    """Resident set size of a process (VmRSS in /proc/<pid>/status), in KB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise BenchError(f"no VmRSS for process {pid}")


def server_pid(server: RunningServer) -> int:
    """The server's own process: the child started through ``taskset`` keeps its pid."""
    return server.process.pid
