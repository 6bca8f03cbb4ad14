"""Presence: a user is online while any of their sockets is connected on any live instance.

Each web instance keeps, in Redis, a hash of its users and their socket counts
(`<prefix>:presence:instance:<iid>`) and its heartbeat in a sorted set
(`<prefix>:presence:instances`); each user has the set of instances they are on
(`<prefix>:presence:user:<id>`). A connect or disconnect is one script call, sent in batches
(one pipeline per flush, off the connect path), which also says whether the user just came
online or went offline anywhere. An instance that dies stops beating: its sockets stop
counting at once (readers ignore instances whose heartbeat is older than
PRESENCE_TTL_SECONDS), and the next live instance's heartbeat sweeps its entries away,
announcing the users it leaves offline.

Changes go out as `presence.updated` room events to `presence:<user id>`, a room that those who
may see the user's presence (`may_see`) join. The embedded mode counts in memory.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from redis.asyncio import Redis
from sqlalchemy import select

from models.social.follows import Follow
from models.social.messages import ConversationMember
from server.db import Reader
from server.outbox import Event
from server.runtime import Runtime
from server.social import reach

log = structlog.get_logger(__name__)

PRESENCE_UPDATED = "presence.updated"
# How long a user's instance set and last-seen time outlive their last change.
KEEP_SECONDS = 30 * 86400

# KEYS: instance hash, user set, instances zset, last seen. ARGV: uid, iid, now ms, ttl ms.
_LIVE_ELSEWHERE = """
local function live_elsewhere()
  for _, other in ipairs(redis.call('SMEMBERS', KEYS[2])) do
    if other ~= ARGV[2] then
      local beat = redis.call('ZSCORE', KEYS[3], other)
      if beat and tonumber(beat) > tonumber(ARGV[3]) - tonumber(ARGV[4]) then return true end
    end
  end
  return false
end
"""
CONNECT_SCRIPT = (
    _LIVE_ELSEWHERE
    + """
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
if n > 1 then return 0 end
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[5])
if live_elsewhere() then return 0 end
return 1
"""
)
DISCONNECT_SCRIPT = (
    _LIVE_ELSEWHERE
    + """
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if n > 0 then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[2], ARGV[2])
if live_elsewhere() then return 0 end
redis.call('SET', KEYS[4], ARGV[3], 'EX', ARGV[5])
return 1
"""
)
# The same check for a reader (ARGV[2] names no instance).
ONLINE_SCRIPT = _LIVE_ELSEWHERE + "\nif live_elsewhere() then return 1 end\nreturn 0\n"
# Many users at once. KEYS: instances zset, then each user's set. ARGV: now ms, ttl ms.
# Returns 1 or 0 per user, in KEYS order; each instance's heartbeat is read once.
ONLINE_MANY_SCRIPT = """
local cutoff = tonumber(ARGV[1]) - tonumber(ARGV[2])
local beats, out = {}, {}
for i = 2, #KEYS do
  local on = 0
  for _, iid in ipairs(redis.call('SMEMBERS', KEYS[i])) do
    if beats[iid] == nil then
      local beat = redis.call('ZSCORE', KEYS[1], iid)
      beats[iid] = beat and tonumber(beat) or -1
    end
    if beats[iid] > cutoff then on = 1 break end
  end
  out[#out + 1] = on
end
return out
"""


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str

    def instance(self, iid: str) -> str:
        return f"{self.prefix}:presence:instance:{iid}"

    @property
    def instances(self) -> str:
        return f"{self.prefix}:presence:instances"

    def user(self, user_id: int) -> str:
        return f"{self.prefix}:presence:user:{user_id}"

    def seen(self, user_id: int) -> str:
        return f"{self.prefix}:presence:seen:{user_id}"


def presence_room(user_id: int) -> str:
    return f"presence:{user_id}"


def _ms() -> int:
    return int(time.time() * 1000)


def _iso(ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")
    return moment.replace("+00:00", "Z")


class PresenceTracker:
    """This instance's part of presence (the namespace's connection hooks)."""

    def __init__(self, runtime: Runtime, *, instance_id: str | None = None) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.instance_id = instance_id or uuid.uuid4().hex[:16]
        self.keys = Keys(runtime.settings.key_prefix)
        self.redis: Redis | None = runtime.redis
        self._ttl_ms = int(self.settings.presence_ttl_seconds * 1000)
        # This instance's sockets per user: the embedded mode's presence, and what a heartbeat
        # puts back if another instance swept this one away during a long pause.
        self._counts: dict[int, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._pending: list[tuple[bool, int]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._flushing = asyncio.Lock()
        self._beating: asyncio.Task[None] | None = None
        if self.redis is not None:
            self._connect = self.redis.register_script(CONNECT_SCRIPT)
            self._disconnect = self.redis.register_script(DISCONNECT_SCRIPT)

    def _args(self, user_id: int) -> tuple[list[str], list[Any]]:
        keys = [
            self.keys.instance(self.instance_id),
            self.keys.user(user_id),
            self.keys.instances,
            self.keys.seen(user_id),
        ]
        return keys, [user_id, self.instance_id, _ms(), self._ttl_ms, KEEP_SECONDS]

    async def connected(self, user_id: int) -> None:
        count = self._counts[user_id] = self._counts.get(user_id, 0) + 1
        if self.redis is None:
            if count == 1:
                self._announce(user_id, online=True)
            return
        self._queue(True, user_id)

    async def disconnected(self, user_id: int) -> None:
        left = self._counts.get(user_id, 0) - 1
        if left > 0:
            self._counts[user_id] = left
        else:
            self._counts.pop(user_id, None)
        if self.redis is None:
            if left == 0:
                self._announce(user_id, online=False)
            return
        self._queue(False, user_id)

    def _queue(self, connected: bool, user_id: int) -> None:
        """Changes go to Redis in batches, one pipeline a flush: a connect awaits nothing, and
        a thousand sockets arriving at once use one Redis connection, not a thousand."""
        self._pending.append((connected, user_id))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self.flush(), name="presence-flush")

    async def flush(self) -> None:
        """Send the queued changes (in order) and announce whom they bring on- or offline."""
        async with self._flushing:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    results = await self._run(batch)
                except Exception as exc:  # Redis down: presence is best effort
                    log.warning("presence.flush_failed", error=repr(exc), changes=len(batch))
                    continue
                for (connected, user_id), changed in zip(batch, results, strict=True):
                    if changed:
                        self._announce(user_id, online=connected)

    async def _run(self, batch: list[tuple[bool, int]]) -> list[Any]:
        redis: Any = self.redis
        async with redis.pipeline(transaction=False) as pipe:
            for connected, user_id in batch:
                keys, args = self._args(user_id)
                script = self._connect if connected else self._disconnect
                await script(keys=keys, args=args, client=pipe)
            return list(await pipe.execute())

    def _announce(self, user_id: int, *, online: bool) -> None:
        """Send `presence.updated` in the background: the connect path stays one round trip."""
        task = asyncio.create_task(self._send(user_id, online=online), name="presence-announce")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, user_id: int, *, online: bool) -> None:
        events = self.runtime.events
        if events is None:
            return
        data = {"user_id": user_id, "online": online, "at": _iso(_ms())}
        try:
            await events.send(Event(PRESENCE_UPDATED, data, room=presence_room(user_id)))
        except Exception as exc:
            log.warning("presence.announce_failed", error=repr(exc))

    # -- heartbeats and the sweep of dead instances ------------------------------------------

    async def beat(self) -> int:
        """Say this instance is alive; sweep instances that stopped beating. How many swept."""
        if self.redis is None:
            return 0
        now = _ms()
        if await self.redis.zadd(self.keys.instances, {self.instance_id: now}) and self._counts:
            await self._restore()
        dead = await self.redis.zrangebyscore(self.keys.instances, "-inf", now - self._ttl_ms)
        for iid in dead:
            await self.sweep(iid.decode() if isinstance(iid, bytes) else iid)
        return len(dead)

    async def _restore(self) -> None:
        """Put this instance's users back after it was swept as dead while still serving."""
        redis: Any = self.redis
        async with redis.pipeline(transaction=False) as pipe:
            pipe.hset(self.keys.instance(self.instance_id), mapping=dict(self._counts))
            for user_id in self._counts:
                pipe.sadd(self.keys.user(user_id), self.instance_id)
                pipe.expire(self.keys.user(user_id), KEEP_SECONDS)
            await pipe.execute()
        log.warning("presence.restored", users=len(self._counts))

    async def sweep(self, iid: str) -> None:
        """Drop a dead (or stopping) instance's entries; announce whom that leaves offline."""
        redis: Any = self.redis  # redis-py's hash and set commands type as sync-or-async
        hash_key = self.keys.instance(iid)
        users = [int(uid) for uid in await redis.hkeys(hash_key)]
        await redis.zrem(self.keys.instances, iid)
        for user_id in users:
            await redis.srem(self.keys.user(user_id), iid)
            if not await is_online(self.runtime, user_id):
                await redis.set(self.keys.seen(user_id), _ms(), ex=KEEP_SECONDS)
                self._announce(user_id, online=False)
        await redis.delete(hash_key)

    def start(self) -> None:
        if self._beating is None and self.redis is not None:
            self._beating = asyncio.create_task(self._beat_forever(), name="presence-heartbeat")

    async def stop(self) -> None:
        """Stop beating and take this instance's users away (they are offline unless elsewhere)."""
        if self._beating is not None:
            self._beating.cancel()
            await asyncio.wait({self._beating}, timeout=2)
            self._beating = None
        if self.redis is not None:
            try:
                await self.flush()
                await self.sweep(self.instance_id)
            except Exception as exc:
                log.warning("presence.stop_failed", error=repr(exc))
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=2)

    async def _beat_forever(self) -> None:
        while True:
            try:
                await self.beat()
            except Exception as exc:
                log.warning("presence.heartbeat_failed", error=repr(exc))
            await asyncio.sleep(self.settings.presence_heartbeat_seconds)


# -- reading presence ----------------------------------------------------------------------

# The embedded mode's tracker, for readers in the same process.
_LOCAL: dict[str, PresenceTracker] = {}


def register_local(tracker: PresenceTracker) -> Callable[[], None]:
    """Let readers of the embedded mode see this tracker's counts; returns the undo."""
    _LOCAL[tracker.keys.prefix] = tracker

    def undo() -> None:
        _LOCAL.pop(tracker.keys.prefix, None)

    return undo


async def is_online(runtime: Runtime, user_id: int) -> bool:
    redis = runtime.redis
    keys = Keys(runtime.settings.key_prefix)
    if redis is None:
        tracker = _LOCAL.get(keys.prefix)
        return tracker is not None and tracker._counts.get(user_id, 0) > 0
    ttl_ms = int(runtime.settings.presence_ttl_seconds * 1000)
    script = redis.register_script(ONLINE_SCRIPT)
    found = await script(
        keys=[keys.instance("-"), keys.user(user_id), keys.instances],
        args=[user_id, "", _ms(), ttl_ms],
    )
    return bool(found)


async def online_ids(runtime: Runtime, user_ids: list[int]) -> set[int]:
    """Which of these users are online, in one Redis round trip whatever their number (raises
    when Redis cannot be read: the caller decides what unknown presence means)."""
    ids = list(dict.fromkeys(user_ids))
    redis = runtime.redis
    keys = Keys(runtime.settings.key_prefix)
    if not ids:
        return set()
    if redis is None:
        tracker = _LOCAL.get(keys.prefix)
        counts = tracker._counts if tracker is not None else {}
        return {user_id for user_id in ids if counts.get(user_id, 0) > 0}
    ttl_ms = int(runtime.settings.presence_ttl_seconds * 1000)
    script = redis.register_script(ONLINE_MANY_SCRIPT)
    found = await script(
        keys=[keys.instances, *(keys.user(user_id) for user_id in ids)], args=[_ms(), ttl_ms]
    )
    return {user_id for user_id, on in zip(ids, found, strict=True) if int(on)}


async def last_seen(runtime: Runtime, user_id: int) -> str | None:
    if runtime.redis is None:
        return None
    value = await runtime.redis.get(Keys(runtime.settings.key_prefix).seen(user_id))
    return _iso(int(value)) if value is not None else None


async def may_see(reader: Reader, *, viewer_id: int, user_id: int) -> bool:
    """Oneself; otherwise no block either way and the viewer follows the user or shares a
    conversation with them."""
    if viewer_id == user_id:
        return True
    if await reach.blocked_between(reader, viewer_id, user_id):
        return False
    follows = await reader.scalar(
        select(Follow.id).where(Follow.follower_id == viewer_id, Follow.followee_id == user_id)
    )
    if follows is not None:
        return True
    mine = select(ConversationMember.conversation_id).where(ConversationMember.user_id == viewer_id)
    shared = await reader.scalar(
        select(ConversationMember.id)
        .where(ConversationMember.user_id == user_id, ConversationMember.conversation_id.in_(mine))
        .limit(1)
    )
    return shared is not None
