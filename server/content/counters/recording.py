"""Recording increments on the hot path: one Redis round trip, or the table when embedded."""

from __future__ import annotations

import time
import weakref
from collections import OrderedDict, deque
from dataclasses import dataclass, field

import structlog
from redis.exceptions import RedisError

from models.content.counters import COUNTER_FIELDS, SHARE_CHANNELS
from server.content.counters import keys
from server.content.counters.flushing import apply_directly
from server.runtime import Runtime

log = structlog.get_logger(__name__)

RECENT_VIEWS = 50
RECENT_VIEWS_TTL = 30 * 86400
_LOCAL_SEEN_MAX = 100_000

# KEYS: seen marker, item hash, dirty set[, recent views]. ARGV: dedupe seconds, content id,
# then the fields to increment by 1, then (with recent views) their length and TTL last.
_COUNT_ONCE = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) == false then
  return 0
end
local last = #ARGV
if #KEYS == 4 then last = #ARGV - 2 end
for i = 3, last do
  redis.call('HINCRBY', KEYS[2], ARGV[i], 1)
end
redis.call('SADD', KEYS[3], ARGV[2])
if #KEYS == 4 then
  redis.call('LREM', KEYS[4], 0, ARGV[2])
  redis.call('LPUSH', KEYS[4], ARGV[2])
  redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[#ARGV - 1]) - 1)
  redis.call('EXPIRE', KEYS[4], ARGV[#ARGV])
end
return 1
"""


class UnknownCounter(ValueError):
    """Not one of views, likes, favorites, comments, shares (or not a share channel)."""


@dataclass
class _Local:
    """The embedded mode's view markers and recent views, in this process only."""

    seen: OrderedDict[str, float] = field(default_factory=OrderedDict)
    recent: dict[int, deque[int]] = field(default_factory=dict)

    def first(self, key: str, ttl: float) -> bool:
        now = time.monotonic()
        expires = self.seen.get(key)
        if expires is not None and expires > now:
            return False
        self.seen[key] = now + ttl
        self.seen.move_to_end(key)
        while len(self.seen) > _LOCAL_SEEN_MAX:
            self.seen.popitem(last=False)
        return True

    def viewed(self, user_id: int, content_id: int) -> None:
        views = self.recent.setdefault(user_id, deque(maxlen=RECENT_VIEWS))
        if content_id in views:
            views.remove(content_id)
        views.appendleft(content_id)


_LOCAL: weakref.WeakKeyDictionary[Runtime, _Local] = weakref.WeakKeyDictionary()


def _local(runtime: Runtime) -> _Local:
    return _LOCAL.setdefault(runtime, _Local())


def first_time(runtime: Runtime, marker: str, ttl: float) -> bool:
    """The embedded mode's SET NX: True unless `marker` was set within `ttl` seconds."""
    return _local(runtime).first(marker, ttl)


def _viewer(runtime: Runtime, user_id: int | None, ip: str | None) -> str:
    """An account, or a keyed hash of the address (no address is stored in Redis)."""
    if user_id is not None:
        return f"u{user_id}"
    return "a" + runtime.pii.lookup_hash(ip or "unknown", context="counters.viewer")[:32]


async def record(runtime: Runtime, content_id: int, field: str, delta: int = 1) -> None:
    """Add `delta` (may be negative: an unlike) to one counter of an item."""
    if field not in COUNTER_FIELDS:
        raise UnknownCounter(field)
    await _add(runtime, content_id, {field: delta})


async def _add(runtime: Runtime, content_id: int, increments: dict[str, int]) -> None:
    if runtime.redis is None:
        await apply_directly(runtime, {content_id: increments})
        return
    settings = runtime.settings
    async with runtime.redis.pipeline(transaction=True) as pipe:
        for name, delta in increments.items():
            pipe.hincrby(keys.item_key(settings, content_id), name, delta)
        pipe.sadd(keys.dirty_key(settings), content_id)
        await pipe.execute()


async def _count_once(
    runtime: Runtime,
    *,
    content_id: int,
    what: str,
    viewer: str,
    fields: list[str],
    recent_of: int | None,
) -> bool:
    """Increment `fields` by 1 unless this viewer was counted for `what` within the window."""
    settings = runtime.settings
    ttl = settings.counters_view_dedupe_seconds
    seen = keys.seen_key(settings, what, viewer)
    if runtime.redis is None:
        local = _local(runtime)
        if not local.first(seen, ttl):
            return False
        if recent_of is not None:
            local.viewed(recent_of, content_id)
        await _add(runtime, content_id, dict.fromkeys(fields, 1))
        return True
    script_keys = [seen, keys.item_key(settings, content_id), keys.dirty_key(settings)]
    args: list[int | str] = [ttl, content_id, *fields]
    if recent_of is not None:
        script_keys.append(keys.recent_key(settings, recent_of))
        args += [RECENT_VIEWS, RECENT_VIEWS_TTL]
    script = runtime.redis.register_script(_COUNT_ONCE)
    return bool(await script(keys=script_keys, args=args))


async def record_view(
    runtime: Runtime, *, content_id: int, user_id: int | None = None, ip: str | None = None
) -> bool:
    """Count a read of an item, once per viewer per item within the dedupe window; remember
    it among the reader's recent views. Never fails the read: with Redis down it is not
    counted (and says so in the log)."""
    try:
        return await _count_once(
            runtime,
            content_id=content_id,
            what=f"view:{content_id}",
            viewer=_viewer(runtime, user_id, ip),
            fields=["views"],
            recent_of=user_id,
        )
    except (RedisError, OSError) as exc:
        log.warning("counters.view_not_counted", content_id=content_id, error=repr(exc))
        return False


async def record_share(
    runtime: Runtime,
    *,
    content_id: int,
    channel: str,
    user_id: int | None = None,
    ip: str | None = None,
) -> bool:
    """Count a share through a channel, once per viewer, item and channel within the window."""
    if channel not in SHARE_CHANNELS:
        raise UnknownCounter(channel)
    return await _count_once(
        runtime,
        content_id=content_id,
        what=f"share:{content_id}:{channel}",
        viewer=_viewer(runtime, user_id, ip),
        fields=["shares", f"share:{channel}"],
        recent_of=None,
    )


async def recent_views(runtime: Runtime, *, user_id: int) -> list[int]:
    """The items the reader viewed lately, newest first (at most 50, kept 30 days)."""
    if runtime.redis is None:
        return list(_local(runtime).recent.get(user_id, ()))
    key = keys.recent_key(runtime.settings, user_id)
    raw: list[bytes] = await runtime.redis.lrange(key, 0, -1)  # type: ignore[misc]
    return [int(value) for value in raw]
