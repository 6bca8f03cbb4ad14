"""Per-user bounded event streams: every user event gets its id here, and recovery reads them.

Production keeps one Redis stream per user (`<prefix>:events:user:<id>`, XADD with MAXLEN ~ N and
a TTL), so any web instance or worker can append and any web instance can replay. The embedded
mode keeps a bounded deque per user in memory with ids of the same `<n>-<m>` shape.

The outbox may hand the same event over twice (fast path and sweep, or a retry after a failed
publish). An append with a `dedupe_id` already seen for that user returns the first entry's id
instead of adding a second entry (and, in Redis, publishes nothing: the first append did).

Server-side positions (what a connected socket was last given, realtime/namespace.py) are ids
too, or STREAM_START for "before the first entry": `tail` reads one, `after(..., anchored=False)`
replays from one.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import orjson
from redis.asyncio import Redis

from realtime.rooms import user_room
from server.settings import Settings

EVENT_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
# A position before every entry: the stream was empty (or absent) when it was read.
STREAM_START = "0-0"
# Whose emits are published by the append script: no manager's host id (those are uuid4 hex), so
# every web instance delivers them, the publishing one included.
STREAM_HOST_ID = "event-streams"
# Dedupe ids remembered by the in-memory streams (the Redis ones expire with the stream TTL).
MEMORY_DEDUPE_LIMIT = 100_000


class RecoveryFailed(Exception):
    """The events after this id cannot be replayed; the client must refetch by REST."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class StreamEntry:
    event_id: str
    type: str
    data: dict[str, Any]
    ts: str


def id_key(event_id: str) -> tuple[int, int]:
    """Stream ids in their order (`<ms>-<seq>`); compare these, never the strings."""
    first, _, second = event_id.partition("-")
    return int(first), int(second or 0)


def dedupe_token(dedupe_id: str, event_type: str, data: dict[str, Any]) -> str:
    """The dedupe id plus a digest of the content.

    The outbox names an event by its row id, and SQLite (the embedded mode) reuses the id of a
    deleted row: the digest keeps a later, different event under a reused id from being taken
    for a duplicate.
    """
    digest = hashlib.blake2b(event_type.encode() + b"\0" + orjson.dumps(data), digest_size=8)
    return f"{dedupe_id}:{digest.hexdigest()}"


def check_event_id(value: object) -> str:
    if not isinstance(value, str) or not EVENT_ID.match(value):
        raise RecoveryFailed("malformed_event_id")
    return value


class EventStreams(Protocol):
    async def append(
        self,
        user_id: int,
        event_type: str,
        data: dict[str, Any],
        *,
        ts: str,
        dedupe_id: str | None = None,
    ) -> str:
        """Add an event to the user's stream (once per dedupe id); its id."""
        ...

    async def after(
        self, user_id: int, last_event_id: object, *, anchored: bool = True
    ) -> list[StreamEntry]:
        """The user's events after `last_event_id`, oldest first; RecoveryFailed if unknowable.

        Anchored (a client's id): the id must still be in the stream, or events after it may
        have been trimmed. Not anchored (a server-side position that may be STREAM_START):
        everything newer than it.
        """
        ...

    async def tail(self, user_id: int) -> str:
        """The id of the user's newest event, or STREAM_START if there is none."""
        ...


class MemoryEventStreams:
    """The embedded mode's streams: nothing survives a restart."""

    def __init__(self, *, maxlen: int) -> None:
        self._maxlen = maxlen
        self._streams: dict[int, deque[StreamEntry]] = {}
        self._dedupe: OrderedDict[tuple[int, str], str] = OrderedDict()
        self._counter = itertools.count(1)

    async def append(
        self,
        user_id: int,
        event_type: str,
        data: dict[str, Any],
        *,
        ts: str,
        dedupe_id: str | None = None,
    ) -> str:
        if dedupe_id is not None:
            dedupe_id = dedupe_token(dedupe_id, event_type, data)
            seen = self._dedupe.get((user_id, dedupe_id))
            if seen is not None:
                return seen
        event_id = f"{next(self._counter)}-0"
        stream = self._streams.get(user_id)
        if stream is None:
            stream = self._streams[user_id] = deque(maxlen=self._maxlen)
        stream.append(StreamEntry(event_id, event_type, data, ts))
        if dedupe_id is not None:
            self._dedupe[(user_id, dedupe_id)] = event_id
            if len(self._dedupe) > MEMORY_DEDUPE_LIMIT:
                self._dedupe.popitem(last=False)
        return event_id

    async def after(
        self, user_id: int, last_event_id: object, *, anchored: bool = True
    ) -> list[StreamEntry]:
        last = check_event_id(last_event_id)
        entries = list(self._streams.get(user_id, ()))
        if not anchored:
            key = id_key(last)
            return [entry for entry in entries if id_key(entry.event_id) > key]
        for index, entry in enumerate(entries):
            if entry.event_id == last:
                return entries[index + 1 :]
        raise RecoveryFailed("unknown_or_trimmed")

    async def tail(self, user_id: int) -> str:
        stream = self._streams.get(user_id)
        return stream[-1].event_id if stream else STREAM_START


# Atomic append-once: a dedupe key remembers the entry id it produced for that user. Given a
# channel (ARGV[7]), the same script publishes the Socket.IO emit of the new entry (its JSON split
# around the id: ARGV[8] .. id .. ARGV[9]); see RedisEventStreams.append for why in one step.
APPEND_SCRIPT = """
if ARGV[6] == '1' then
  local seen = redis.call('GET', KEYS[2])
  if seen then return seen end
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*',
                      'type', ARGV[3], 'data', ARGV[4], 'ts', ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[2])
if ARGV[6] == '1' then redis.call('SET', KEYS[2], id, 'EX', ARGV[2]) end
if ARGV[7] ~= '' then redis.call('PUBLISH', ARGV[7], ARGV[8] .. id .. ARGV[9]) end
return id
"""


def emit_message(event_type: str, data: bytes, ts: str, room: str) -> tuple[bytes, bytes]:
    """python-socketio's pub/sub emit of the contract's envelope to `room`, as the JSON before
    and after the envelope's `event_id` value (`data` is the event's data, JSON-encoded).

    The shape AsyncPubSubManager.emit publishes, with STREAM_HOST_ID as the sender.
    """
    head = orjson.dumps(
        {
            "method": "emit",
            "event": event_type,
            "binary": False,
            "namespace": "/",
            "room": room,
            "skip_sid": None,
            "callback": None,
            "host_id": STREAM_HOST_ID,
        }
    )
    fields = orjson.dumps({"type": event_type, "ts": ts})
    before = head[:-1] + b',"data":[{"event_id":"'
    after = b'",' + fields[1:-1] + b',"data":' + data + b"}]}"
    return before, after


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _field(fields: dict[Any, Any], name: str) -> Any:
    return fields[name.encode()] if name.encode() in fields else fields[name]


class Append(NamedTuple):
    """One event for one user's stream (RedisEventStreams.append's arguments)."""

    user_id: int
    event_type: str
    data: dict[str, Any]
    ts: str
    dedupe_id: str | None = None
    channel: str | None = None


class RedisEventStreams:
    """Redis streams, usable from any process that has the Redis client (web or worker)."""

    def __init__(self, redis: Redis, *, prefix: str, maxlen: int, ttl_seconds: int) -> None:
        self._redis = redis
        self._prefix = prefix
        self._maxlen = maxlen
        self._ttl = ttl_seconds
        self._append = redis.register_script(APPEND_SCRIPT)

    def stream_key(self, user_id: int) -> str:
        return f"{self._prefix}:events:user:{user_id}"

    def dedupe_key(self, user_id: int, dedupe_id: str) -> str:
        return f"{self._prefix}:events:dedupe:{dedupe_id}:{user_id}"

    async def append(
        self,
        user_id: int,
        event_type: str,
        data: dict[str, Any],
        *,
        ts: str,
        dedupe_id: str | None = None,
        channel: str | None = None,
    ) -> str:
        """Add the event (once per dedupe id); given the Socket.IO `channel`, also deliver it.

        Delivery in stream order: the stream entry and the emit to `user:<id>` carrying its id
        are made by one script, so Redis numbers and publishes every user's events in the same
        order, and every web instance's subscription hears them in that order. Two steps (append,
        then emit) let concurrent senders interleave: A gets 1-0, B gets 2-0, B's emit goes out
        first, and a client resuming from the highest id it saw (2-0) never gets 1-0. Reordering
        on the receiving side instead cannot work: ids are not consecutive, so a receiver cannot
        tell a late event from a gap without reading the stream for every event it delivers.

        A duplicate (a dedupe id seen before) publishes nothing: its first append did, and an
        old id published again would arrive after newer ones.
        """
        keys, args = self._script_call(user_id, event_type, data, ts, dedupe_id, channel)
        return _text(await self._append(keys=keys, args=args))

    async def append_many(self, appends: Sequence[Append]) -> list[str]:
        """`append` for each, in order, in one round trip (a pipeline of the same script)."""
        if not appends:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for item in appends:
                keys, args = self._script_call(*item)
                await self._append(keys=keys, args=args, client=pipe)
            return [_text(found) for found in await pipe.execute()]

    def _script_call(
        self,
        user_id: int,
        event_type: str,
        data: dict[str, Any],
        ts: str,
        dedupe_id: str | None,
        channel: str | None,
    ) -> tuple[list[str], list[bytes | str | int]]:
        encoded = orjson.dumps(data)
        token = dedupe_token(dedupe_id, event_type, data) if dedupe_id else "-"
        keys = [self.stream_key(user_id), self.dedupe_key(user_id, token)]
        before, after = emit_message(event_type, encoded, ts, user_room(user_id))
        args: list[bytes | str | int] = [
            self._maxlen,
            self._ttl,
            event_type,
            encoded,
            ts,
            int(bool(dedupe_id)),
            channel or "",
            before if channel else "",
            after if channel else "",
        ]
        return keys, args

    async def after(
        self, user_id: int, last_event_id: object, *, anchored: bool = True
    ) -> list[StreamEntry]:
        last = check_event_id(last_event_id)
        key = self.stream_key(user_id)
        if anchored:
            # Trimming drops the oldest entries: if `last` is still there, nothing after it is gone.
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.xrange(key, min=last, max=last, count=1)
                pipe.xrange(key, min=f"({last}", max="+")
                anchor, entries = await pipe.execute()
            if not anchor:
                raise RecoveryFailed("unknown_or_trimmed")
        else:
            entries = await self._redis.xrange(key, min=f"({last}", max="+")
        return [
            StreamEntry(
                _text(entry_id),
                _text(_field(fields, "type")),
                orjson.loads(_field(fields, "data")),
                _text(_field(fields, "ts")),
            )
            for entry_id, fields in entries
        ]

    async def tail(self, user_id: int) -> str:
        newest = await self._redis.xrevrange(self.stream_key(user_id), count=1)
        return _text(newest[0][0]) if newest else STREAM_START


def event_streams(settings: Settings, redis: Redis | None) -> EventStreams:
    """Redis streams in production, memory in the embedded mode."""
    if redis is None:
        return MemoryEventStreams(maxlen=settings.event_stream_maxlen)
    return RedisEventStreams(
        redis,
        prefix=settings.key_prefix,
        maxlen=settings.event_stream_maxlen,
        ttl_seconds=settings.event_stream_ttl_seconds,
    )
