"""How often codes may be sent, and how often a signed-in user may get their password wrong.

Both are exact and fail closed (RateLimiter.throttle): without Redis, sending a code answers 503
rather than let anyone flood an inbox or a phone. Targets are keyed by the code's keyed target
hash, so no address is written into Redis, and unknown addresses are counted like known ones.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse_many
from redis.exceptions import RedisError

from server.http.errors import ServiceUnavailable
from server.http.ratelimit import RateLimiter

TARGET, IP = "verification:target", "verification:ip"


class SendThrottle:
    def __init__(self, limiter: RateLimiter, *, per_target: str, per_ip: str) -> None:
        self._limiter = limiter
        self._per_target = parse_many(per_target)
        self._per_ip = parse_many(per_ip)

    def _limits(self, target_key: str, ip: str) -> list[tuple[RateLimitItem, str, str]]:
        return [(item, TARGET, target_key) for item in self._per_target] + [
            (item, IP, ip) for item in self._per_ip
        ]

    async def sending(self, *, target_key: str, ip: str) -> int:
        """Count one send to the target from the IP (429 if either is used up).

        Returns the seconds until the target may be sent another code.
        """
        limits = self._limits(target_key, ip)
        # Check every window before counting in any, so a refusal costs no quota elsewhere.
        for item, *identifiers in limits:
            await self._limiter.check_throttle(item, *identifiers)
        for item, *identifiers in limits:
            await self._limiter.throttle(item, *identifiers)
        return await self._wait(target_key)

    async def _wait(self, target_key: str) -> int:
        wait = 0
        try:
            for item in self._per_target:
                stats = await self._limiter.throttles.get_window_stats(item, TARGET, target_key)
                if stats.remaining <= 0:
                    wait = max(wait, math.ceil(stats.reset_time - time.time()))
        except (RedisError, OSError, ConnectionError) as exc:
            raise ServiceUnavailable() from exc
        return max(0, wait)


class PasswordThrottle:
    """Wrong current passwords of a signed-in user (a stolen token must not guess freely)."""

    SCOPE = "password:user"

    def __init__(self, limiter: RateLimiter, *, rate: str) -> None:
        self._limiter = limiter
        self._rate = rate

    async def check(self, *, user_id: int) -> None:
        await self._limiter.check_throttle(self._rate, self.SCOPE, str(user_id))

    async def failed(self, *, user_id: int) -> None:
        await self._limiter.throttle(self._rate, self.SCOPE, str(user_id))
