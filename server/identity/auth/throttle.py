"""Failed sign-ins, counted per account (whatever the IP) and per IP.

Counted on failures only and cleared for the account on success. The account key is a hash of
the normalised email or phone, so unknown accounts are throttled exactly like real ones (no
enumeration by throttle behaviour) and no address is written into Redis. Exact and fail closed
(RateLimiter.throttle): without Redis, sign-in answers 503 rather than allow unmetered guessing.
"""

from __future__ import annotations

import hashlib

from server.http.ratelimit import RateLimiter


class LoginThrottle:
    def __init__(self, limiter: RateLimiter, *, per_account: str, per_ip: str) -> None:
        self._limiter = limiter
        self._per_account = per_account
        self._per_ip = per_ip

    @staticmethod
    def _account(identifier: str) -> str:
        return hashlib.sha256(identifier.encode()).hexdigest()[:32]

    async def check(self, *, identifier: str, ip: str) -> None:
        """429 if this account or this IP has used up its failures."""
        await self._limiter.check_throttle(
            self._per_account, "login:account", self._account(identifier)
        )
        await self._limiter.check_throttle(self._per_ip, "login:ip", ip)

    async def failed(self, *, identifier: str, ip: str) -> None:
        """Count one failure against the account and the IP."""
        await self._limiter.throttle(self._per_account, "login:account", self._account(identifier))
        await self._limiter.throttle(self._per_ip, "login:ip", ip)

    async def succeeded(self, *, identifier: str) -> None:
        """The account's owner is back: forget its failures."""
        await self._limiter.reset_throttle(
            self._per_account, "login:account", self._account(identifier)
        )
