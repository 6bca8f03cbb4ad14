"""Peer servers the benchmarks compare ours with; each module is a script taking ``--port``.

Run them from the repository root: ``python -m bench.peers.floor_aiohttp --port 8081``.
"""

from __future__ import annotations

import datetime as dt


def meta_payload() -> dict[str, object]:
    """The same small dict as our ``GET /api/v1/meta``, built per request like ours."""
    return {
        "name": "ShareStack",
        "version": "0.1.0",
        "mode": "production",
        "time": dt.datetime.now(dt.UTC),
    }
