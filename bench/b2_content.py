"""B2c: ``GET /api/v1/contents/{id}``: one published item (~9 KB), database point read, uncached.

Goals: ours >= 0.6x the raw floor and >= 1.5x the FastAPI + ORM peer (req/s medians).
"""

from __future__ import annotations

from bench.common import Benchmark
from bench.content_bench import run_detail

BENCHMARK = Benchmark(
    id="b2c", title="GET one published content item (point read, uncached)", run=run_detail
)
