"""Recording counter changes of rows committed already, right away (comments' routes).

Likes and favorites do not come this way: their changes are written to the outbox in the
transaction of the row they count (`server.content.counters.count_on_commit`).

The hot path is one Redis round trip per item (`server.content.counters.record`). The rows are
already committed when this runs, so a count must not fail the request: with Redis unreachable
the change is added to `content_counters` directly, in its own transaction.
"""

from __future__ import annotations

import structlog
from redis.exceptions import RedisError

from server.content.counters import record
from server.content.counters.flushing import apply_directly
from server.runtime import Runtime

log = structlog.get_logger(__name__)


async def count(runtime: Runtime, field: str, changes: dict[int, int]) -> None:
    """Record `field` changes per content id (zero changes are skipped)."""
    for content_id, delta in changes.items():
        if not delta:
            continue
        try:
            await record(runtime, content_id, field, delta)
        except (RedisError, OSError) as exc:
            log.warning("counters.recorded_in_table", content_id=content_id, error=repr(exc))
            await apply_directly(runtime, {content_id: {field: delta}})
