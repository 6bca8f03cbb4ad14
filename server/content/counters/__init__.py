"""Content counters (views, likes, favorites, comments, shares): fast and eventually exact.

On the hot path an increment is one Redis round trip: HINCRBY on the item's hash under the
deployment's key prefix and SADD of the item to a dirty set. A flush job (every 5 s) moves the
pending increments atomically into a batch (a Lua script), adds the batch to `content_counters`
in one transaction that also records the batch's id, and only then deletes the batch from Redis:
a flush that dies is finished by a later one, and a batch is never added twice.

In the embedded mode (no Redis) every increment is added to the table directly, in its own
transaction, and view de-duplication and recent views live in process memory.

Callers record an increment after the commit of the change it counts (a like row, a comment).
"""

from server.content.counters.flushing import apply_increments, flush, rescore
from server.content.counters.hot import hot_score
from server.content.counters.queries import counters_of
from server.content.counters.recording import recent_views, record, record_share, record_view

__all__ = [
    "apply_increments",
    "counters_of",
    "flush",
    "hot_score",
    "recent_views",
    "record",
    "record_share",
    "record_view",
    "rescore",
]
