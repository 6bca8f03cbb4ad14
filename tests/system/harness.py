"""A small harness for system tests: real web and worker processes, and faults between them.

* `Process` (and `WebProcess`, `WorkerProcess`) start `python -m server serve` or
  `python -m jobs worker|media|tutor` as subprocesses with an environment built from Settings
  values, wait until they are ready, keep their stdout/stderr in files and stop them with SIGTERM
  (so coverage writes its data), SIGKILL after a grace period; `kill()` is a hard crash.
* `FaultProxy` is a TCP proxy of the suite's own, run in the test's event loop, put between a
  process and MariaDB or Redis to `cut()`, `restore()` or `slow()` that one path without touching
  the shared servers.
* `PubSubRecorder` records what is published on the Socket.IO Redis channel.

Subprocesses inherit this process's environment (minus Settings variables, which come from the
test), COVERAGE_* included, so the code they run counts towards coverage.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import orjson
from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from server.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
# Every variable a Settings field reads; the test decides them, the outer shell does not.
SETTINGS_VARIABLES = frozenset(name.upper() for name in Settings.model_fields)
WORKER_HEALTH_KEY = "{prefix}:worker:{name}:health"  # jobs/worker.py: settings.channel(...)
HEALTH_MARKER_MS = 600_000  # a starting worker's marker outlives any readiness wait
# `python -m jobs <kind>` runs the worker of these settings classes, as in production.
WORKER_KINDS = {
    "WorkerSettings": "worker",
    "MediaWorkerSettings": "media",
    "TutorWorkerSettings": "tutor",
}

_RUNNING: set[subprocess.Popen[bytes]] = set()


@atexit.register
def _kill_leftovers() -> None:  # pragma: no cover - only when a test run is torn down abruptly
    for popen in list(_RUNNING):
        if popen.poll() is None:
            popen.kill()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def environment(values: Mapping[str, Any]) -> dict[str, str]:
    """A subprocess environment: ours without Settings variables, plus `values` (field names)."""
    env = {k: v for k, v in os.environ.items() if k.upper() not in SETTINGS_VARIABLES}
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, list | tuple):
            value = ",".join(str(item) for item in value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        env[name.upper()] = str(value)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def with_host(url: str, host: str, port: int) -> str:
    """`url` pointing at host:port instead, user, password, path and query kept."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@{host}:{port}" if userinfo else f"{host}:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


def host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    default = 6379 if parts.scheme.startswith("redis") else 3306
    return parts.hostname or "127.0.0.1", parts.port or default


class ProcessFailed(AssertionError):
    """A process exited or never became ready; the message carries its output."""


class Process:
    """One subprocess with its output in files under `log_dir`."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: Mapping[str, str],
        log_dir: Path,
        *,
        ready: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        self.name = name
        self.argv = argv
        self.env = dict(env)
        log_dir.mkdir(parents=True, exist_ok=True)
        self.stdout_path = log_dir / f"{name}.out"
        self.stderr_path = log_dir / f"{name}.err"
        self._ready = ready
        self._popen: subprocess.Popen[bytes] | None = None

    # --- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        if self._popen is not None:
            raise RuntimeError(f"{self.name} was already started")
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self._popen = subprocess.Popen(
                self.argv, cwd=ROOT, env=self.env, stdout=out, stderr=err, stdin=subprocess.DEVNULL
            )
        _RUNNING.add(self._popen)

    async def wait_ready(self, within: float = 30.0) -> None:
        """Poll the readiness check until it passes; fail at once if the process exits."""
        deadline = time.monotonic() + within
        while True:
            if self.returncode is not None:
                raise ProcessFailed(
                    f"{self.name} exited with {self.returncode} before it was ready\n{self.tail()}"
                )
            with contextlib.suppress(Exception):
                if self._ready is None or await self._ready():
                    return
            if time.monotonic() > deadline:
                raise ProcessFailed(f"{self.name} not ready after {within} s\n{self.tail()}")
            await asyncio.sleep(0.1)

    @property
    def pid(self) -> int:
        assert self._popen is not None, "not started"
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        return None if self._popen is None else self._popen.poll()

    @property
    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    async def wait(self, within: float) -> int | None:
        """The exit code, or None if still running after `within` seconds seconds."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if not self.running:
                break
            await asyncio.sleep(0.05)
        return self.returncode

    async def stop(self, grace: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL if it has not exited after `grace` seconds."""
        if not self.running:
            return self.returncode
        assert self._popen is not None
        self._popen.send_signal(signal.SIGTERM)
        if await self.wait(grace) is None:
            await self.kill()
        _RUNNING.discard(self._popen)
        return self.returncode

    async def kill(self) -> int | None:
        """SIGKILL: a crash. Nothing of the process's own shutdown runs."""
        if self.running:
            assert self._popen is not None
            self._popen.kill()
            await self.wait(10.0)
        if self._popen is not None:
            _RUNNING.discard(self._popen)
        return self.returncode

    # --- output -----------------------------------------------------------------------------------

    def output(self) -> str:
        parts = []
        for path in (self.stdout_path, self.stderr_path):
            if path.exists():
                parts.append(path.read_text(errors="replace"))
        return "".join(parts)

    def tail(self, lines: int = 40) -> str:
        chunks = []
        for label, path in (("stdout", self.stdout_path), ("stderr", self.stderr_path)):
            text = path.read_text(errors="replace") if path.exists() else ""
            last = "\n".join(text.splitlines()[-lines:])
            chunks.append(f"--- {self.name} {label} (last {lines} lines) ---\n{last}")
        state = "running" if self.running else f"exited {self.returncode}"
        return f"=== {self.name} [{state}] {' '.join(self.argv)}\n" + "\n".join(chunks)


class WebProcess(Process):
    """`python -m server serve` on a free port; ready when GET /healthz answers 200."""

    def __init__(self, name: str, env: Mapping[str, str], log_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [sys.executable, "-m", "server", "serve", "--host", "127.0.0.1"]
        super().__init__(name, [*argv, "--port", str(self.port)], env, log_dir, ready=self._healthy)

    async def _healthy(self) -> bool:
        timeout = aiohttp.ClientTimeout(total=2)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(f"{self.url}/healthz") as response,
        ):
            return response.status == 200


class WorkerProcess(Process):
    """`python -m jobs worker` (or `media`, `tutor`; another class: `arq <class>`); ready once it
    writes its health-check key.

    arq writes the key on its first poll, after `on_startup` built the runtime. The key may be
    left by an earlier worker on the same prefix, so before this process starts the key is
    overwritten with a marker of its own; readiness is the marker replaced. (Comparing TTLs
    instead misses a restart that follows the previous write by less than one readiness poll.)
    """

    def __init__(
        self,
        name: str,
        env: Mapping[str, str],
        log_dir: Path,
        *,
        redis: Redis,
        settings_class: str = "WorkerSettings",
    ) -> None:
        prefix = env.get("KEY_PREFIX", "sharestack")
        self.health_key = WORKER_HEALTH_KEY.format(prefix=prefix, name=settings_class)
        self._redis = redis
        self._marker = f"starting:{name}:{uuid.uuid4().hex}"
        kind = WORKER_KINDS.get(settings_class)
        if kind is not None:
            argv = [sys.executable, "-m", "jobs", kind]
        else:
            argv = [sys.executable, "-m", "arq", f"jobs.worker.{settings_class}"]
        super().__init__(name, argv, env, log_dir, ready=self._healthy)

    async def note_health_key(self) -> None:
        await self._redis.set(self.health_key, self._marker, px=HEALTH_MARKER_MS)

    async def _healthy(self) -> bool:
        value = await self._redis.get(self.health_key)
        return value is not None and value not in (self._marker, self._marker.encode())


class ProcessGroup:
    """Every process one test started: stopped at teardown, their tails shown on failure."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.processes: list[Process] = []
        self._names: dict[str, int] = {}

    def name(self, kind: str) -> str:
        self._names[kind] = self._names.get(kind, 0) + 1
        return f"{kind}-{self._names[kind]}"

    async def start(self, process: Process, *, within: float = 30.0) -> Process:
        if isinstance(process, WorkerProcess):
            await process.note_health_key()
        self.processes.append(process)
        process.start()
        await process.wait_ready(within)
        return process

    async def stop_all(self, grace: float = 10.0) -> None:
        await asyncio.gather(*(p.stop(grace) for p in self.processes))

    def tails(self, lines: int = 40) -> str:
        return "\n\n".join(p.tail(lines) for p in self.processes)


# --- the fault proxy ------------------------------------------------------------------------------


class FaultProxy:
    """A TCP proxy between a client process and a server, with faults on demand.

    `cut()` closes every open connection and closes new ones as soon as they are accepted (the
    client sees its connection dropped at once, as when the server goes away); `blackhole()` is
    a network partition instead: connections stay open and new ones are accepted, but nothing
    gets through in either direction (not even a close), so a client only learns of it from its
    own timeouts; `restore()` lets connections through again, drops any delay and closes the
    connections a partition swallowed data of (their streams are broken); `slow(seconds)` delays
    every chunk of data by that much in each direction (latency, not throughput: chunks do not
    queue behind each other's delay).
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.host = "127.0.0.1"
        self.port = 0
        self.delay = 0.0
        self.is_cut = False
        self.is_blackholed = False
        self.accepted = 0
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()
        # Connections accepted during a partition: held open, never connected upstream.
        self._held: set[asyncio.StreamWriter] = set()

    @classmethod
    async def for_url(cls, url: str) -> FaultProxy:
        host, port = host_port(url)
        proxy = cls(host, port)
        await proxy.start()
        return proxy

    def url(self, url: str) -> str:
        """`url` (to the target) rewritten to go through this proxy."""
        return with_host(url, self.host, self.port)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def cut(self) -> None:
        self.is_cut = True
        for link in list(self._links):
            link.abort()

    def blackhole(self) -> None:
        self.is_blackholed = True

    def restore(self) -> None:
        self.is_cut = False
        self.is_blackholed = False
        self.delay = 0.0
        for link in list(self._links):
            if link.swallowed:
                link.abort()
        for writer in list(self._held):
            writer.transport.abort()

    def slow(self, delay_seconds: float) -> None:
        self.delay = delay_seconds

    @property
    def open_connections(self) -> int:
        return len(self._links)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for link in list(self._links):
            link.abort()
        for writer in list(self._held):
            writer.transport.abort()
        if self._server is not None:
            await self._server.wait_closed()
        await asyncio.gather(*(link.done for link in list(self._links)), return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self.is_cut:
            writer.transport.abort()
            return
        if self.is_blackholed:
            await self._hold(reader, writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            writer.transport.abort()
            return
        link = _Link(self, reader, writer, up_reader, up_writer)
        self._links.add(link)
        try:
            await link.run()
        finally:
            self._links.discard(link)

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Swallow what the client sends until it gives up or the partition ends."""
        self._held.add(writer)
        try:
            while await reader.read(65536):
                pass
        except OSError:
            pass
        finally:
            self._held.discard(writer)
            writer.transport.abort()


class _Link:
    """One proxied connection: two pumps, each reading, holding for the delay, then writing."""

    def __init__(
        self,
        proxy: FaultProxy,
        client_reader: asyncio.StreamReader,
        client_writer: asyncio.StreamWriter,
        server_reader: asyncio.StreamReader,
        server_writer: asyncio.StreamWriter,
    ) -> None:
        self._proxy = proxy
        self._writers = (client_writer, server_writer)
        self._pumps = (
            (client_reader, server_writer),
            (server_reader, client_writer),
        )
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.swallowed = False  # data was lost to a partition: the stream is broken
        self._aborted = asyncio.Event()

    async def run(self) -> None:
        tasks = [asyncio.ensure_future(self._pump(r, w)) for r, w in self._pumps]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.abort()
            if not self.done.done():
                self.done.set_result(None)

    def abort(self) -> None:
        self._aborted.set()
        for writer in self._writers:
            writer.transport.abort()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def send() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    return
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(data)
                await writer.drain()

        sender = asyncio.ensure_future(send())
        try:
            while not sender.done():
                data = await reader.read(65536)
                if self._proxy.is_blackholed:
                    # Lost, an end of stream included: the other side sees only silence.
                    self.swallowed = True
                    if not data:
                        await self._aborted.wait()  # by restore() or close()
                        return
                    continue
                await queue.put((loop.time() + self._proxy.delay, data))
                if not data:
                    break
            await sender
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            sender.cancel()
            with contextlib.suppress(BaseException):
                await sender


# --- pub/sub --------------------------------------------------------------------------------------


class PubSubRecorder:
    """Records every message published on one channel (python-socketio's Redis channel).

    python-socketio's AsyncRedisManager publishes `json.dumps(message)` (with our orjson shim in
    realtime/server.py): `{"method": "emit", "event", "data": [payload], "room", "namespace",
    ...}`. Anything that does not decode as JSON is kept as raw bytes.
    """

    def __init__(self, redis: Redis, channel: str) -> None:
        self._redis = redis
        self.channel = channel
        self.messages: list[Any] = []
        self._pubsub: PubSub | None = None
        self._task: asyncio.Task[None] | None = None
        self._arrived = asyncio.Event()

    async def start(self) -> None:
        """Subscribe and return once Redis confirmed the subscription."""
        self._pubsub = self._redis.pubsub()
        await self._pubsub.subscribe(self.channel)
        while True:
            message = await self._pubsub.get_message(timeout=5)
            if message is None:
                raise AssertionError(f"no subscription confirmation for {self.channel}")
            if message["type"] == "subscribe":
                break
        self._task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        assert self._pubsub is not None
        while True:
            message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
            if message is None or message["type"] != "message":
                continue
            try:
                self.messages.append(orjson.loads(message["data"]))
            except orjson.JSONDecodeError:
                self.messages.append(message["data"])
            self._arrived.set()

    def emits(self, event: str | None = None, room: str | None = None) -> list[dict[str, Any]]:
        """Socket.IO emits seen so far, optionally for one event name and room."""
        return [
            m
            for m in self.messages
            if isinstance(m, dict)
            and m.get("method") == "emit"
            and (event is None or m.get("event") == event)
            and (room is None or m.get("room") == room)
        ]

    async def wait_for(
        self, predicate: Callable[[list[Any]], bool], within: float
    ) -> list[dict[str, Any]]:
        """Wait until `predicate(messages)` holds; the messages, or AssertionError on timeout."""
        deadline = time.monotonic() + within
        while not predicate(self.messages):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"not seen on {self.channel} within {within} s; got {self.messages!r}"
                )
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), min(remaining, 0.2))
        return self.messages

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        if self._pubsub is not None:
            await self._pubsub.aclose()


async def eventually(
    check: Callable[[], Awaitable[bool]], within: float, *, what: str = "condition"
) -> float:
    """Poll `check` until it holds; the seconds it took, or AssertionError if it never does."""
    started = time.monotonic()
    while True:
        if await check():
            return time.monotonic() - started
        if time.monotonic() - started > within:
            raise AssertionError(f"{what} did not hold within {within} s")
        await asyncio.sleep(0.1)


def one_task_worker(name: str, task: str, *, timeout: int) -> type:
    """jobs/worker.py's settings with only `task`, its timeout `timeout` s and 20 tries, no cron:
    arq re-runs a job whose worker died once its in-progress key expires (the longest task
    timeout + 10 s), so a short timeout brings the re-run soon. A test module returns it from its
    `__getattr__`, so that `arq <module>.<name>` finds it in the worker process."""
    from arq.worker import func

    from jobs.tasks import FUNCTIONS
    from jobs.worker import WorkerSettings

    fields = {k: v for k, v in vars(WorkerSettings).items() if not k.startswith("__")}
    found = FUNCTIONS[task]
    fields.update(
        functions=[func(found.coroutine, name=found.name, timeout=timeout, max_tries=20)],
        cron_jobs=[],
    )
    return type(name, (), fields)


async def start_arq_worker(
    processes: ProcessGroup, env: dict[str, str], redis: Redis, settings_class: str
) -> WorkerProcess:
    """`arq <settings_class>` (a dotted path), started and ready."""
    process = WorkerProcess(processes.name("worker"), env, processes.log_dir, redis=redis)
    process.argv = [sys.executable, "-m", "arq", settings_class]
    await processes.start(process, within=60)
    return process
