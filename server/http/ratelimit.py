"""Rate limits.

Two paths, both built on the `limits` library's rate items:

* General limits (per IP on every request, per account on authenticated ones) count locally and
  sync to Redis in one pipeline every `rate_limit_sync_seconds`. A Redis round trip per request
  would cost more than the rest of a cheap request; batching keeps the hot path in memory while
  every instance still sees the cluster-wide count within one sync interval. These FAIL OPEN:
  while Redis is down each instance enforces the limit on its own traffic alone.
* Security throttles (login attempts, code sends) use `limits`' moving window on Redis (memory
  when embedded), exact on every call. These FAIL CLOSED: without Redis they answer 503, because
  letting guesses through unmetered is worse than a short outage of login.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from dataclasses import dataclass

import structlog
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import Redis
from redis.exceptions import RedisError

from server.http.errors import RateLimited, ServiceUnavailable

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class _Window:
    key: str
    ends_at: float
    limit: int
    seen: int = 0  # cluster-wide count at the last sync, our own flushed hits included
    pending: int = 0  # our hits not yet flushed


class WindowCounter:
    """Fixed-window counts kept in memory and reconciled with Redis in batches."""

    def __init__(self, redis: Redis | None, prefix: str, sync_seconds: float = 0.1) -> None:
        self._redis = redis
        self._prefix = prefix
        self._sync_seconds = sync_seconds
        self._windows: dict[str, _Window] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._redis_ok = True

    def hit(self, item: RateLimitItem, name: str) -> int:
        """Count one hit on `name`; 0 if allowed, else the seconds until the window resets."""
        now = time.time()
        window = self._windows.get(name)
        if window is None or window.ends_at <= now:
            period = item.get_expiry()
            start = now - (now % period)
            key = f"{self._prefix}:rl:{item.amount}/{period}:{name}:{int(start)}"
            window = _Window(key, start + period, item.amount)
            self._windows[name] = window
        if window.seen + window.pending >= window.limit:
            return max(1, math.ceil(window.ends_at - now))
        window.pending += 1
        return 0

    async def sync(self) -> None:
        """Flush local hits and learn the cluster-wide counts."""
        now = time.time()
        for name in [n for n, w in self._windows.items() if w.ends_at <= now]:
            del self._windows[name]
        dirty = [w for w in self._windows.values() if w.pending]
        if not dirty or self._redis is None:
            return
        flushed = [w.pending for w in dirty]
        pipe = self._redis.pipeline(transaction=False)
        for window in dirty:
            pipe.incrby(window.key, window.pending)
            pipe.expireat(window.key, int(window.ends_at) + 1)
        try:
            results = await pipe.execute()
        except (RedisError, OSError) as exc:
            if self._redis_ok:
                log.warning("ratelimit.redis_unavailable", error=repr(exc))
            self._redis_ok = False
            return
        self._redis_ok = True
        for window, sent, total in zip(dirty, flushed, results[::2], strict=True):
            window.pending -= sent
            window.seen = int(total)

    def start(self) -> None:
        if self._redis is not None and self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="ratelimit-sync")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            self._stopping = True
            # A cancel that lands as a `wait_for` inside redis-py completes can be swallowed
            # (CPython gh-86296, on 3.11), so cancel until the task is really done.
            while not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=0.5)
            with contextlib.suppress(asyncio.CancelledError, RedisError, OSError):
                task.result()
        with contextlib.suppress(RedisError, OSError):
            await self.sync()

    async def _run(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self._sync_seconds)
            await self.sync()


class RateLimiter:
    """General limits per IP and per account, and exact security throttles."""

    def __init__(
        self,
        *,
        redis: Redis | None,
        redis_url: str | None,
        prefix: str,
        per_ip: str,
        per_account: str,
        sync_seconds: float,
    ) -> None:
        self.counter = WindowCounter(redis, prefix, sync_seconds)
        self.per_ip = parse(per_ip)
        self.per_account = parse(per_account)
        storage: Storage
        if redis_url:
            storage = RedisStorage(
                "async+" + redis_url, implementation="redispy", key_prefix=f"{prefix}:throttle"
            )
        else:
            storage = MemoryStorage()
        self.throttles = MovingWindowRateLimiter(storage)

    def check_ip(self, ip: str) -> None:
        retry_after = self.counter.hit(self.per_ip, "ip:" + ip)
        if retry_after:
            raise RateLimited(retry_after)

    def check_account(self, user_id: int) -> None:
        retry_after = self.counter.hit(self.per_account, f"account:{user_id}")
        if retry_after:
            raise RateLimited(retry_after)

    async def throttle(self, rate: str | RateLimitItem, *identifiers: str) -> None:
        """Exact limit for security-sensitive actions; fails closed when Redis is down."""
        await self._throttle(rate, identifiers, count=True)

    async def check_throttle(self, rate: str | RateLimitItem, *identifiers: str) -> None:
        """Raise 429 if `throttle` would refuse now, without counting a hit; fails closed."""
        await self._throttle(rate, identifiers, count=False)

    async def _throttle(
        self, rate: str | RateLimitItem, identifiers: tuple[str, ...], *, count: bool
    ) -> None:
        item = parse(rate) if isinstance(rate, str) else rate
        check = self.throttles.hit if count else self.throttles.test
        try:
            if await check(item, *identifiers):
                return
            stats = await self.throttles.get_window_stats(item, *identifiers)
        except (RedisError, OSError, ConnectionError) as exc:
            log.warning("ratelimit.throttle_unavailable", error=repr(exc))
            raise ServiceUnavailable() from exc
        raise RateLimited(max(1, math.ceil(stats.reset_time - time.time())))

    async def reset_throttle(self, rate: str | RateLimitItem, *identifiers: str) -> None:
        item = parse(rate) if isinstance(rate, str) else rate
        with contextlib.suppress(RedisError, OSError, ConnectionError):
            await self.throttles.clear(item, *identifiers)
