"""B2c and B3: published content read by an anonymous reader, ours against a raw floor and the
FastAPI + ORM peer, on the same seeded rows (bench/content_data.py)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

import orjson

from bench.common import HOST, PYTHON, BenchError, Options, ServerSpec
from bench.content_data import DETAIL_KEYS, ITEM_KEYS, seed
from bench.http_bench import HttpBenchmark, run_http_benchmark
from bench.report import BenchResult, Goal
from bench.stores import BENCH_DATABASE, ensure_database, mysql_server_url, ours_environment

POOL_SIZE = 10
HUGE_LIMIT = "100000000/minute"


def _servers() -> tuple[ServerSpec, ServerSpec, ServerSpec]:
    def ours_env() -> contextlib.AbstractContextManager[Mapping[str, str]]:
        return ours_environment(
            {
                "RATE_LIMIT_IP": HUGE_LIMIT,
                "RATE_LIMIT_ACCOUNT": HUGE_LIMIT,
                "DATABASE_POOL_SIZE": str(POOL_SIZE),
            }
        )

    @contextlib.contextmanager
    def peer_env() -> Iterator[Mapping[str, str]]:
        yield {
            "DATABASE_URL": ensure_database(mysql_server_url(), BENCH_DATABASE),
            "DATABASE_POOL_SIZE": str(POOL_SIZE),
        }

    return (
        ServerSpec(
            name="ours",
            label="ShareStack: access policy, Core selects",
            argv=lambda port: [
                PYTHON,
                "-m",
                "server",
                "serve",
                "--host",
                HOST,
                "--port",
                str(port),
            ],
            environment=ours_env,
        ),
        ServerSpec(
            name="floor",
            label="aiohttp + uvloop + orjson + asyncmy, raw SQL",
            argv=lambda port: [PYTHON, "-m", "bench.peers.floor_content", "--port", str(port)],
            environment=peer_env,
        ),
        ServerSpec(
            name="peer",
            label="FastAPI + uvicorn + SQLAlchemy ORM (selectinload)",
            argv=lambda port: [PYTHON, "-m", "bench.peers.fastapi_content", "--port", str(port)],
            environment=peer_env,
        ),
    )


def _check_keys(found: object, expected: frozenset[str], what: str) -> None:
    if not isinstance(found, dict) or not expected <= set(found):
        seen = sorted(found) if isinstance(found, dict) else type(found).__name__
        raise BenchError(f"{what} answered keys {seen}, expected at least {sorted(expected)}")


def run_detail(options: Options) -> BenchResult:
    with ours_environment({}) as env:
        seeded = seed(env["DATABASE_URL"])
    path = f"/api/v1/contents/{seeded.detail_id}"

    def inspect(_name: str, _headers: Mapping[str, str], body: bytes) -> list[str]:
        answer = orjson.loads(body)
        _check_keys(answer, DETAIL_KEYS, f"GET {path}")
        if answer["id"] != seeded.detail_id or len(answer["html"].encode()) < 9000:
            raise BenchError(f"GET {path} answered another item or no body")
        return []

    return run_http_benchmark(
        HttpBenchmark(
            id="b2c",
            title="GET one published content item (point read, uncached)",
            path=path,
            servers=_servers(),
            goals=(Goal("ours", "floor", 0.6), Goal("ours", "peer", 1.5)),
            headers={"Accept": "application/json"},
            inspect=inspect,
        ),
        options,
    )


def run_list(options: Options) -> BenchResult:
    with ours_environment({}) as env:
        seed(env["DATABASE_URL"])
    path = "/api/v1/contents?limit=20"

    def inspect(_name: str, _headers: Mapping[str, str], body: bytes) -> list[str]:
        answer = orjson.loads(body)
        _check_keys(answer, frozenset({"items", "next_cursor"}), f"GET {path}")
        if len(answer["items"]) != 20:
            raise BenchError(f"GET {path} answered {len(answer['items'])} items, not 20")
        for item in answer["items"]:
            _check_keys(item, ITEM_KEYS, f"GET {path} item")
        return []

    return run_http_benchmark(
        HttpBenchmark(
            id="b3",
            title="GET a list page: 20 published items with authors and tags",
            path=path,
            servers=_servers(),
            goals=(Goal("ours", "floor", 0.7), Goal("ours", "peer", 3.0)),
            headers={"Accept": "application/json"},
            inspect=inspect,
        ),
        options,
    )
