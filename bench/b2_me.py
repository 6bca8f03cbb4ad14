"""B2: ``GET /api/v1/me``: authentication, session check and one database point read.

Ours is the real server: the bearer JWT verified (RS256, issuer, audience), the session's state
cached per process for ``SESSION_CACHE_SECONDS=2`` (then one primary-key read), the user read
with one Core select, every middleware an authenticated endpoint passes (rate limits set so high
they never throttle). The floor is bare aiohttp + asyncmy doing the same reads with raw SQL and
the same session cache; the peer is FastAPI + SQLAlchemy ORM as FastAPI's docs show. All three
use one RSA key pair generated for the run (``bench/results/b2-jwt-<pid>-*.pem``), the same bench
database, the same user (registered through ours' API) and the same pool bounds.
Goals: ours >= 0.6x the floor and >= 1.5x the FastAPI peer (req/s medians).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bench.common import (
    HOST,
    PYTHON,
    RESULTS_DIR,
    BenchError,
    Benchmark,
    Options,
    RunningServer,
    ServerSpec,
    log,
    start_server,
)
from bench.http_bench import HttpBenchmark, run_http_benchmark
from bench.report import BenchResult, Goal
from bench.stores import BENCH_DATABASE, ensure_database, mysql_server_url, ours_environment

PATH = "/api/v1/me"
REGISTER_PATH = "/api/v1/auth/register"
POOL_SIZE = 10
SESSION_CACHE_SECONDS = 2  # the default: the session check is cached as in production
USER_KEYS = frozenset({"id", "email", "phone", "nickname", "avatar_url", "roles", "created_at"})
HUGE_LIMIT = "100000000/minute"


@dataclass(frozen=True)
class KeyPair:
    private: Path
    public: Path


@contextlib.contextmanager
def key_pair() -> Iterator[KeyPair]:
    """An RSA 2048 key pair in PEM files under bench/results/, deleted afterwards."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pair = KeyPair(
        RESULTS_DIR / f"b2-jwt-{os.getpid()}-private.pem",
        RESULTS_DIR / f"b2-jwt-{os.getpid()}-public.pem",
    )
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    try:
        _write_private(pair.private, private_pem)
        pair.public.write_bytes(public_pem)
        yield pair
    finally:
        pair.private.unlink(missing_ok=True)
        pair.public.unlink(missing_ok=True)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)


@dataclass
class Fixture:
    """The registered user: filled in by ``prepare``, read by ``inspect``."""

    user: dict[str, Any] = field(default_factory=dict)


def register_user(base_url: str) -> tuple[str, dict[str, Any]]:
    """Sign a fresh user up through ours' API; (access token, the user object it answered)."""
    payload = {
        "email": f"bench-{secrets.token_hex(6)}@example.com",
        "password": secrets.token_urlsafe(12)[:16],
        "nickname": "bench",
    }
    request = urllib.request.Request(
        base_url + REGISTER_PATH,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        raise BenchError(f"POST {REGISTER_PATH} answered {exc.code}: {exc.read()[:200]!r}") from exc
    except OSError as exc:
        raise BenchError(f"POST {REGISTER_PATH} failed: {exc}") from exc
    try:
        answer = orjson.loads(body)
        token, user = answer["access_token"], answer["user"]
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise BenchError(f"POST {REGISTER_PATH} answered {body[:200]!r}") from exc
    if not isinstance(token, str) or not isinstance(user, dict):
        raise BenchError(f"POST {REGISTER_PATH} answered {body[:200]!r}")
    return token, user


def build(keys: KeyPair) -> HttpBenchmark:
    fixture = Fixture()

    def ours_env() -> contextlib.AbstractContextManager[Mapping[str, str]]:
        return ours_environment(
            {
                "RATE_LIMIT_IP": HUGE_LIMIT,
                "RATE_LIMIT_ACCOUNT": HUGE_LIMIT,
                "JWT_PRIVATE_KEY_FILE": str(keys.private),
                "JWT_PUBLIC_KEY_FILE": str(keys.public),
                "SESSION_CACHE_SECONDS": str(SESSION_CACHE_SECONDS),
                "DATABASE_POOL_SIZE": str(POOL_SIZE),
                # Long enough for any run (the default is 15 minutes).
                "ACCESS_TOKEN_SECONDS": "86400",
            }
        )

    @contextlib.contextmanager
    def peer_env() -> Iterator[Mapping[str, str]]:
        yield {
            "DATABASE_URL": ensure_database(mysql_server_url(), BENCH_DATABASE),
            "JWT_PUBLIC_KEY_FILE": str(keys.public),
            "SESSION_CACHE_SECONDS": str(SESSION_CACHE_SECONDS),
            "DATABASE_POOL_SIZE": str(POOL_SIZE),
        }

    ours = ServerSpec(
        name="ours",
        label="ShareStack: JWT, cached session, Core select",
        argv=lambda port: [PYTHON, "-m", "server", "serve", "--host", HOST, "--port", str(port)],
        environment=ours_env,
    )
    floor = ServerSpec(
        name="floor",
        label="aiohttp + uvloop + orjson + asyncmy, raw SQL",
        argv=lambda port: [PYTHON, "-m", "bench.peers.floor_me", "--port", str(port)],
        environment=peer_env,
    )
    peer = ServerSpec(
        name="peer",
        label="FastAPI + uvicorn + SQLAlchemy ORM (asyncmy)",
        argv=lambda port: [PYTHON, "-m", "bench.peers.fastapi_me", "--port", str(port)],
        environment=peer_env,
    )

    def prepare(
        running: Mapping[str, RunningServer], stack: contextlib.ExitStack
    ) -> Mapping[str, str]:
        server = running.get("ours")
        if server is None:  # left out by --only (or failed): a short-lived one signs the user up
            log("b2: starting a temporary ours to register the bench user")
            server = start_server(ours, stack.enter_context(ours_env()), stack)
            try:
                token, fixture.user = register_user(server.base_url)
            finally:
                server.stop()
        else:
            token, fixture.user = register_user(server.base_url)
        log(f"b2: registered user {fixture.user.get('id')} ({fixture.user.get('email')})")
        return {"Authorization": f"Bearer {token}"}

    def inspect(name: str, _headers: Mapping[str, str], body: bytes) -> list[str]:
        """Every server must answer the registered user's object with exactly our keys."""
        answer = orjson.loads(body)
        if not isinstance(answer, dict) or set(answer) != USER_KEYS:
            keys_seen = sorted(answer) if isinstance(answer, dict) else type(answer).__name__
            raise BenchError(f"GET {PATH} answered keys {keys_seen}, not {sorted(USER_KEYS)}")
        if answer["id"] != fixture.user.get("id"):
            raise BenchError(f"GET {PATH} answered user {answer['id']}, not {fixture.user['id']}")
        differing = sorted(key for key in USER_KEYS if answer[key] != fixture.user.get(key))
        if differing:
            return [f"{name} answers {PATH} with other values for {', '.join(differing)}"]
        return []

    return HttpBenchmark(
        id="b2",
        title="GET /api/v1/me: authentication, session check, one point read",
        path=PATH,
        servers=(ours, floor, peer),
        goals=(Goal("ours", "floor", 0.6), Goal("ours", "peer", 1.5)),
        headers={"Accept": "application/json"},
        inspect=inspect,
        prepare=prepare,
        secret_headers=frozenset({"Authorization"}),
    )


def run(options: Options) -> BenchResult:
    with key_pair() as keys:
        return run_http_benchmark(build(keys), options)


BENCHMARK = Benchmark(
    id="b2", title="GET /api/v1/me: authentication, session check, one point read", run=run
)
