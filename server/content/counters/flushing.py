"""Moving pending increments from Redis into `content_counters`, and keeping hot scores fresh.

A flush claims up to COUNTERS_FLUSH_BATCH dirty items in one Lua script: their hashes are
summed into a new batch hash and deleted, and the batch is listed with the time it was claimed.
Increments made after the claim land in fresh hashes, so none is lost. The batch is added to the
totals in one transaction that also inserts its id into `counter_flushes`; the batch is deleted
from Redis only after that commit. A batch whose flush died is re-applied by a later flush after
COUNTERS_STALE_BATCH_SECONDS, and its id (already in `counter_flushes` if the first attempt
committed) keeps it from being counted twice, even when two flushes race for it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Table, case, delete, insert, or_, select, update
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from models.content.counters import (
    COUNTER_FIELDS,
    SHARE_CHANNELS,
    ContentCounter,
    ContentShareChannel,
    CounterFlush,
)
from models.content.items import Content
from server.content.counters import keys
from server.content.counters.hot import hot_score
from server.db import UnitOfWork
from server.runtime import Runtime

log = structlog.get_logger(__name__)

Increments = dict[int, dict[str, int]]
CHUNK = 500
MAX_ROUNDS = 20  # claims per flush: a backlog is drained over a few runs, not in one
APPLIED_KEPT = timedelta(days=1)
_DEADLOCK_RETRIES = 3

# KEYS: dirty set, batches zset, new batch hash. ARGV: item key prefix, max items, batch id,
# claim time (ms). Returns how many items were claimed.
_CLAIM = """
local ids = redis.call('SPOP', KEYS[1], tonumber(ARGV[2]))
if #ids == 0 then
  return 0
end
for _, id in ipairs(ids) do
  local key = ARGV[1] .. id
  local pending = redis.call('HGETALL', key)
  for i = 1, #pending, 2 do
    redis.call('HINCRBY', KEYS[3], id .. ':' .. pending[i], pending[i + 1])
  end
  redis.call('DEL', key)
end
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
return #ids
"""


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def _window(runtime: Runtime) -> timedelta:
    return timedelta(days=runtime.settings.discover_hot_window_days)


async def flush(runtime: Runtime) -> int:
    """Move pending increments into the totals; how many items' totals changed."""
    if runtime.redis is None:
        return 0
    settings, redis = runtime.settings, runtime.redis
    claim = redis.register_script(_CLAIM)
    prefix = keys.item_key(settings, "")
    changed = 0
    for _ in range(MAX_ROUNDS):
        batch_id = uuid.uuid4().hex
        claimed = await claim(
            keys=[
                keys.dirty_key(settings),
                keys.batches_key(settings),
                keys.batch_key(settings, batch_id),
            ],
            args=[prefix, settings.counters_flush_batch, batch_id, int(time.time() * 1000)],
        )
        if claimed:
            changed += await _apply_batch(runtime, batch_id)
        if claimed < settings.counters_flush_batch:
            break
    stale_before = time.time() * 1000 - settings.counters_stale_batch_seconds * 1000
    for raw in await redis.zrangebyscore(keys.batches_key(settings), "-inf", stale_before):
        batch_id = raw.decode()
        log.info("counters.stale_batch", batch_id=batch_id)
        changed += await _apply_batch(runtime, batch_id)
    return changed


def _parse(raw: dict[bytes, bytes]) -> Increments:
    increments: Increments = {}
    for name, value in raw.items():
        content_id, _, field = name.decode().partition(":")
        delta = int(value)
        if content_id.isdigit() and field and delta:
            increments.setdefault(int(content_id), {})[field] = delta
    return increments


async def _apply_batch(runtime: Runtime, batch_id: str) -> int:
    """Add one claimed batch to the totals once, then forget it in Redis."""
    assert runtime.redis is not None
    settings = runtime.settings
    pending: dict[bytes, bytes] = await runtime.redis.hgetall(  # type: ignore[misc]
        keys.batch_key(settings, batch_id)
    )
    increments = _parse(pending)
    changed = 0
    for attempt in range(1, _DEADLOCK_RETRIES + 1):
        try:
            changed = await _apply_once(runtime, batch_id, increments)
            break
        except IntegrityError:
            if not await _was_applied(runtime, batch_id):
                raise
            changed = 0  # another flush applied it first
            break
        except OperationalError:
            if attempt == _DEADLOCK_RETRIES:
                raise
            log.warning("counters.flush_retry", batch_id=batch_id, attempt=attempt)
    async with runtime.redis.pipeline(transaction=True) as pipe:
        pipe.delete(keys.batch_key(settings, batch_id))
        pipe.zrem(keys.batches_key(settings), batch_id)
        await pipe.execute()
    return changed


async def _apply_once(runtime: Runtime, batch_id: str, increments: Increments) -> int:
    now = runtime.clock.now()
    async with runtime.db.unit_of_work() as uow:
        # First, so a second application of the batch fails before it changes anything.
        await uow.session.execute(insert(CounterFlush).values(batch_id=batch_id, applied_at=now))
        return await apply_increments(uow, increments, now=now, window=_window(runtime))


async def _was_applied(runtime: Runtime, batch_id: str) -> bool:
    async with runtime.db.read() as session:
        found = await session.scalar(
            select(CounterFlush.batch_id).where(CounterFlush.batch_id == batch_id)
        )
    return found is not None


async def apply_directly(runtime: Runtime, increments: Increments) -> int:
    """The embedded mode's path: add increments to the totals at once."""
    async with runtime.db.unit_of_work() as uow:
        return await apply_increments(
            uow, increments, now=runtime.clock.now(), window=_window(runtime)
        )


async def apply_increments(
    uow: UnitOfWork, increments: Increments, *, now: datetime, window: timedelta
) -> int:
    """Add increments to the totals and share channels, rescore those items and tell each
    item's room its new counters (one event per item)."""
    session = uow.session
    wanted = sorted(increments)  # rows locked in one order: concurrent flushes queue
    present: set[int] = set()
    for chunk in _chunks(wanted):
        present |= set(await session.scalars(select(Content.id).where(Content.id.in_(chunk))))
    ids = [content_id for content_id in wanted if content_id in present]  # deleted drafts drop
    if not ids:
        return 0
    counter_rows = [
        {
            "content_id": content_id,
            **{name: increments[content_id].get(name, 0) for name in COUNTER_FIELDS},
            "hot_score": 0.0,
            "updated_at": now,
        }
        for content_id in ids
    ]
    share_rows = [
        {"content_id": content_id, "channel": channel, "count": delta}
        for content_id in ids
        for name, delta in increments[content_id].items()
        if (channel := name.removeprefix("share:")) != name and channel in SHARE_CHANNELS
    ]
    table = ContentCounter.__table__
    shares = ContentShareChannel.__table__
    for start in range(0, len(counter_rows), CHUNK):
        await _add_up(
            session, table, counter_rows[start : start + CHUNK], COUNTER_FIELDS, ("updated_at",)
        )
    for start in range(0, len(share_rows), CHUNK):
        await _add_up(session, shares, share_rows[start : start + CHUNK], ("count",), ())
    for chunk in _chunks(ids):
        await _rescore(uow, chunk, now=now, window=window, announce=True)
    return len(ids)


async def _add_up(
    session: AsyncSession,
    table: Any,
    rows: list[dict[str, Any]],
    added: tuple[str, ...],
    replaced: tuple[str, ...],
) -> None:
    """Insert rows, or add their `added` columns to the existing row's (the one upsert)."""
    if not rows:
        return
    assert isinstance(table, Table)
    statement: Any
    if session.get_bind().dialect.name == "mysql":
        mine = mysql_insert(table).values(rows)
        statement = mine.on_duplicate_key_update(
            {
                **{name: table.c[name] + mine.inserted[name] for name in added},
                **{name: mine.inserted[name] for name in replaced},
            }
        )
    else:
        lite = sqlite_insert(table).values(rows)
        statement = lite.on_conflict_do_update(
            index_elements=[column.name for column in table.primary_key.columns],
            set_={
                **{name: table.c[name] + lite.excluded[name] for name in added},
                **{name: lite.excluded[name] for name in replaced},
            },
        )
    await session.execute(statement)


async def _rescore(
    uow: UnitOfWork, ids: list[int], *, now: datetime, window: timedelta, announce: bool
) -> int:
    """Recompute the hot scores of some items (one read, one update); optionally publish."""
    rows = (
        await uow.session.execute(
            select(
                ContentCounter.content_id,
                *(getattr(ContentCounter, name) for name in COUNTER_FIELDS),
                Content.published_at,
                Content.status,
            )
            .join(Content, Content.id == ContentCounter.content_id)
            .where(ContentCounter.content_id.in_(ids))
        )
    ).all()
    if not rows:
        return 0
    scores: dict[int, float] = {}
    for row in rows:
        counts = {name: int(getattr(row, name)) for name in COUNTER_FIELDS}
        published = row.published_at if row.status == "published" else None
        scores[row.content_id] = hot_score(counts, published_at=published, now=now, window=window)
        if announce:
            uow.outbox.publish(
                "content.counters",
                {"content_id": row.content_id, "counters": counts},
                room=f"content:{row.content_id}",
            )
    await uow.session.execute(
        update(ContentCounter)
        .where(ContentCounter.content_id.in_(list(scores)))
        .values(hot_score=case(scores, value=ContentCounter.content_id))
        .execution_options(synchronize_session=False)
    )
    return len(scores)


async def rescore(runtime: Runtime) -> int:
    """The hourly pass: every item published within the window gets a counters row and a
    fresh score (ages move on), items that left the window (or were withdrawn) drop to 0, and
    applied batch ids older than a day are purged. How many scores were written."""
    now = runtime.clock.now()
    window = _window(runtime)
    since = now - window
    async with runtime.db.read() as session:
        recent = list(
            await session.scalars(
                select(Content.id).where(
                    Content.status == "published", Content.published_at >= since
                )
            )
        )
        gone = list(
            await session.scalars(
                select(ContentCounter.content_id)
                .join(Content, Content.id == ContentCounter.content_id)
                .where(
                    ContentCounter.hot_score != 0,
                    or_(Content.status != "published", Content.published_at < since),
                )
            )
        )
    written = 0
    for chunk in _chunks(sorted(recent)):
        async with runtime.db.unit_of_work() as uow:
            rows = [{"content_id": i, "updated_at": now} for i in chunk]
            await _add_up(uow.session, ContentCounter.__table__, rows, COUNTER_FIELDS[:1], ())
            written += await _rescore(uow, chunk, now=now, window=window, announce=False)
    for chunk in _chunks(sorted(gone)):
        async with runtime.db.unit_of_work() as uow:
            await uow.session.execute(
                update(ContentCounter)
                .where(ContentCounter.content_id.in_(chunk))
                .values(hot_score=0)
                .execution_options(synchronize_session=False)
            )
            written += len(chunk)
    async with runtime.db.unit_of_work() as uow:
        await uow.session.execute(
            delete(CounterFlush).where(CounterFlush.applied_at < now - APPLIED_KEPT)
        )
    return written
