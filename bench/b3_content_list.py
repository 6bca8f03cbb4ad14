"""B3: ``GET /api/v1/contents?limit=20``: a page of 20 published items with authors and tags.

Ours runs three statements whatever the page size (items, their tags, their authors; a test
asserts it). Goals: ours >= 0.7x the raw floor and >= 3x the FastAPI + ORM peer.
"""

from __future__ import annotations

from bench.common import Benchmark
from bench.content_bench import run_list

BENCHMARK = Benchmark(
    id="b3", title="GET a list page: 20 published items with authors and tags", run=run_list
)
