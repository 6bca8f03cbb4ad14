"""Counter changes of committed rows (a like, a favorite, a comment), through the outbox.

The change is written as an outbox job in the transaction of the row it counts, so it commits or
rolls back with it and a crash right after the commit loses nothing: the relay hands the job to
a worker at once, or its sweep does a few seconds later. The task adds the change to the pending
increments (the same Redis hash and dirty set as the hot path; the table in the embedded mode)
once per change id, so a job that runs twice counts once.
"""

from __future__ import annotations

import secrets

from models.content.counters import COUNTER_FIELDS
from server.content.counters import keys
from server.content.counters.flushing import apply_directly
from server.content.counters.recording import UnknownCounter, first_time
from server.db import UnitOfWork
from server.runtime import Runtime

RECORD_TASK = "counters.record_changes"
# How long a change id is remembered: far longer than a job can wait for its rerun.
COUNTED_TTL = 86400

# KEYS: counted marker, dirty set, then one item hash per change. ARGV: marker TTL, field,
# then a (content id, delta) pair per item hash. Returns 0 when the change was counted before.
_COUNT_CHANGES = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) == false then
  return 0
end
for i = 3, #KEYS do
  local at = 3 + (i - 3) * 2
  redis.call('HINCRBY', KEYS[i], ARGV[2], ARGV[at + 1])
  redis.call('SADD', KEYS[2], ARGV[at])
end
return 1
"""


def count_on_commit(uow: UnitOfWork, field: str, changes: dict[int, int]) -> None:
    """Record `field` changes per content id once this unit of work commits (zero changes are
    skipped; nothing is written when none is left)."""
    if field not in COUNTER_FIELDS:
        raise UnknownCounter(field)
    moved = {str(content_id): delta for content_id, delta in changes.items() if delta}
    if moved:
        uow.outbox.enqueue(RECORD_TASK, field=field, changes=moved, change_id=secrets.token_hex(12))


async def record_changes(
    runtime: Runtime, *, change_id: str, field: str, changes: dict[str, int]
) -> bool:
    """Add one committed change set to the pending increments, once per `change_id`; False
    when it was counted already."""
    if field not in COUNTER_FIELDS:
        raise UnknownCounter(field)
    settings = runtime.settings
    marker = keys.counted_key(settings, change_id)
    if runtime.redis is None:
        if not first_time(runtime, marker, COUNTED_TTL):
            return False
        await apply_directly(
            runtime, {int(content_id): {field: delta} for content_id, delta in changes.items()}
        )
        return True
    items = sorted(changes.items())
    script = runtime.redis.register_script(_COUNT_CHANGES)
    counted = await script(
        keys=[
            marker,
            keys.dirty_key(settings),
            *(keys.item_key(settings, content_id) for content_id, _ in items),
        ],
        args=[COUNTED_TTL, field, *(value for item in items for value in item)],
    )
    return bool(counted)
