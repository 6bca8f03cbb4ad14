"""B1: a public JSON endpoint through every middleware a public endpoint passes.

Ours is ``GET /api/v1/meta`` on the real server (request id, errors, metrics, CORS, logging,
per-IP rate limit backed by Redis, with a limit so high it never throttles). The floor is a bare
aiohttp handler (uvloop + orjson, no middleware); the peer is FastAPI on uvicorn with uvloop and
httptools. Every request carries an allowed ``Origin`` so the CORS middleware does its real work.
Goals: ours >= 0.6x the floor and >= 2x the FastAPI peer (req/s medians).
"""

from __future__ import annotations

from collections.abc import Mapping

from bench.common import HOST, PYTHON, Benchmark, Options, ServerSpec
from bench.http_bench import HttpBenchmark, run_http_benchmark
from bench.report import BenchResult, Goal
from bench.stores import ours_environment

PATH = "/api/v1/meta"
ORIGIN = "https://bench.example"


def _script(module: str) -> list[str]:
    return [PYTHON, "-m", module]


OURS = ServerSpec(
    name="ours",
    label="ShareStack, all public middleware",
    argv=lambda port: [PYTHON, "-m", "server", "serve", "--host", HOST, "--port", str(port)],
    environment=lambda: ours_environment({"CORS_ORIGINS": ORIGIN}),
)
FLOOR = ServerSpec(
    name="floor",
    label="bare aiohttp + uvloop + orjson",
    argv=lambda port: [*_script("bench.peers.floor_aiohttp"), "--port", str(port)],
)
PEER = ServerSpec(
    name="peer",
    label="FastAPI + uvicorn (uvloop, httptools)",
    argv=lambda port: [*_script("bench.peers.fastapi_peer"), "--port", str(port)],
)


def _inspect(name: str, headers: Mapping[str, str], _body: bytes) -> list[str]:
    """Ours must show that its CORS middleware saw the request; an absent header is worth a note."""
    lowered = {key.lower() for key in headers}
    if name == "ours" and "access-control-allow-origin" not in lowered:
        return [f"ours sent no Access-Control-Allow-Origin for Origin {ORIGIN}: is CORS wired?"]
    return []


SPEC = HttpBenchmark(
    id="b1",
    title="public JSON endpoint through every public middleware",
    path=PATH,
    servers=(OURS, FLOOR, PEER),
    goals=(Goal("ours", "floor", 0.6), Goal("ours", "peer", 2.0)),
    headers={"Origin": ORIGIN, "Accept": "application/json"},
    inspect=_inspect,
)


def run(options: Options) -> BenchResult:
    return run_http_benchmark(SPEC, options)


BENCHMARK = Benchmark(id="b1", title=SPEC.title, run=run)
