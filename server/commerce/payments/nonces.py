"""Callback nonces seen recently (WeChat Pay): one nonce, one message."""

from __future__ import annotations

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from server.settings import Settings

log = structlog.get_logger(__name__)


class NonceBook:
    """Redis `SET NX` per nonce for the freshness window. The same nonce with the same body is a
    redelivery of one message (allowed: the event id makes it harmless, and a retry after a
    crash must get through); with another body it is a forgery or a replay, refused."""

    def __init__(self, redis: Redis | None, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings
        self.ttl = settings.payment_callback_tolerance_seconds * 2
        self._local: dict[str, str] = {}

    async def fresh(self, provider: str, nonce: str, digest: str) -> bool:
        key = self.settings.channel(f"payments:nonce:{provider}:{nonce}")
        if self.redis is None:
            return self._local.setdefault(key, digest) == digest
        try:
            if await self.redis.set(key, digest, nx=True, ex=self.ttl):
                return True
            seen = await self.redis.get(key)
        except RedisError:
            # Fail open: a replay still changes nothing (unique event ids); payments keep flowing.
            log.warning("payments.nonce_check_unavailable", provider=provider)
            return True
        return seen is None or (seen.decode() if isinstance(seen, bytes) else seen) == digest
