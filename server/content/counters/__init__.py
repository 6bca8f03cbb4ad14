"""Content counters (views, likes, favorites, comments, shares): fast and eventually exact.

On the hot path an increment is one Redis round trip: HINCRBY on the item's hash under the
deployment's key prefix and SADD of the item to a dirty set. A flush job (every 5 s) moves the
pending increments atomically into a batch (a Lua script), adds the batch to `content_counters`
in one transaction that also records the batch's id, and only then deletes the batch from Redis:
a flush that dies is finished by a later one, and a batch is never added twice.

In the embedded mode (no Redis) every increment is added to the table directly, in its own
transaction, and view de-duplication and recent views live in process memory.

A change of committed rows (a like, a favorite, a comment) is counted through the outbox, in the
transaction that makes it (`count_on_commit`); views and shares, which no row records, are
counted on the hot path directly.
"""

from server.content.counters.changes import RECORD_TASK, count_on_commit, record_changes
from server.content.counters.flushing import apply_increments, flush, rescore
from server.content.counters.hot import hot_score
from server.content.counters.queries import counters_of
from server.content.counters.recording import recent_views, record, record_share, record_view

__all__ = [
    "RECORD_TASK",
    "apply_increments",
    "count_on_commit",
    "counters_of",
    "flush",
    "hot_score",
    "recent_views",
    "record",
    "record_changes",
    "record_share",
    "record_view",
    "rescore",
]
