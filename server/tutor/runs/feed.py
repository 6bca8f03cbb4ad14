"""A run's events in order, for readers that follow one run (Server-Sent Events): the worker
appends each delta and the terminal event under the run's `seq`; a reader waits for those after
the last it has. Redis streams in production (one short-lived stream per run), memory in the
embedded mode."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from redis.asyncio import Redis

# A run's stream outlives its answer by this long (a reader resuming late reads the database).
KEEP_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class FeedEntry:
    seq: int
    type: str
    data: dict[str, Any]


class RunFeed(Protocol):
    async def append(self, run_id: int, entry: FeedEntry) -> None: ...

    async def append_many(self, entries: Sequence[tuple[int, FeedEntry]]) -> None:
        """`append` each (run id, entry), in order."""
        ...

    async def after(self, run_id: int, seq: int, *, wait: float) -> list[FeedEntry]:
        """Entries after `seq`, waiting up to `wait` seconds for one when there is none yet."""
        ...


class MemoryRunFeed:
    """The embedded mode's feeds: the newest `keep_runs` runs' (an older run's reader reads its
    end from the database, as after a Redis feed expires)."""

    def __init__(self, *, keep_runs: int = 1000) -> None:
        self._entries: dict[int, list[FeedEntry]] = {}
        self._keep_runs = keep_runs
        self._changed = asyncio.Condition()

    async def append(self, run_id: int, entry: FeedEntry) -> None:
        async with self._changed:
            if run_id not in self._entries and len(self._entries) >= self._keep_runs:
                del self._entries[next(iter(self._entries))]  # the oldest run's
            self._entries.setdefault(run_id, []).append(entry)
            self._changed.notify_all()

    async def append_many(self, entries: Sequence[tuple[int, FeedEntry]]) -> None:
        for run_id, entry in entries:
            await self.append(run_id, entry)

    def _after(self, run_id: int, seq: int) -> list[FeedEntry]:
        return [entry for entry in self._entries.get(run_id, ()) if entry.seq > seq]

    async def after(self, run_id: int, seq: int, *, wait: float) -> list[FeedEntry]:
        async with self._changed:
            found = self._after(run_id, seq)
            if not found and wait > 0:
                try:
                    await asyncio.wait_for(
                        self._changed.wait_for(lambda: bool(self._after(run_id, seq))), wait
                    )
                except TimeoutError:
                    return []
                found = self._after(run_id, seq)
            return found


class RedisRunFeed:
    def __init__(self, redis: Redis, *, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    def key(self, run_id: int) -> str:
        return f"{self._prefix}tutor:run:{run_id}"

    async def append(self, run_id: int, entry: FeedEntry) -> None:
        await self.append_many([(run_id, entry)])

    async def append_many(self, entries: Sequence[tuple[int, FeedEntry]]) -> None:
        if not entries:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for run_id, entry in entries:
                key = self.key(run_id)
                fields = {"t": entry.type, "d": orjson.dumps(entry.data)}
                # The entry id is the seq itself, so a reader resumes from a seq with no lookup.
                pipe.xadd(key, fields, id=f"0-{entry.seq}")  # type: ignore[arg-type]
                if entry.seq == 1 or entry.type != "tutor.delta":
                    pipe.expire(key, KEEP_SECONDS)
            await pipe.execute(raise_on_error=False)

    async def after(self, run_id: int, seq: int, *, wait: float) -> list[FeedEntry]:
        key = self.key(run_id)
        if wait > 0:
            found = await self._redis.xread({key: f"0-{seq}"}, block=int(wait * 1000))
        else:
            found = await self._redis.xread({key: f"0-{seq}"})
        entries: list[FeedEntry] = []
        for _, rows in found or ():
            for entry_id, fields in rows:
                raw_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                kind = fields.get(b"t", fields.get("t"))
                data = fields.get(b"d", fields.get("d"))
                entries.append(
                    FeedEntry(
                        int(raw_id.split("-")[1]),
                        kind.decode() if isinstance(kind, bytes) else str(kind),
                        orjson.loads(data),
                    )
                )
        return entries
