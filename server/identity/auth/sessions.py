"""The authenticator: bearer token -> principal, with the session's state cached briefly.

Revocation must reach every instance within 5 s and keep working while Redis is down, and the
hot path must not pay a round trip per request. So each process keeps session state (revoked?
disabled? roles) for `session_cache_seconds` (at most 4 s), read from the database by primary
key on a miss. Redis plays no part: the database is the one source, the TTL the one bound.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from aiohttp import web

from server.http.errors import Unauthorized
from server.http.guards import Principal
from server.identity.auth import queries
from server.identity.auth.queries import SessionState
from server.identity.auth.service import AccountDisabled
from server.identity.auth.tokens import InvalidToken, TokenService
from server.keys import PRINCIPAL, RUNTIME
from server.runtime import Runtime

# last_seen_at is written at most this often per session.
TOUCH_EVERY = timedelta(minutes=1)
MAX_CACHED_SESSIONS = 100_000


class SessionRevoked(Unauthorized):
    code, message = "auth.session_revoked", "This session has ended; sign in again."


def bearer_token(request: web.Request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized()
    return token.strip()


class SessionGuard:
    """Plugged in as the route registry's authenticator; usable by the socket layer too."""

    def __init__(self, tokens: TokenService, *, cache_seconds: float) -> None:
        self.tokens = tokens
        self.cache_seconds = cache_seconds
        self._cache: dict[int, tuple[float, SessionState | None]] = {}
        self._loading: dict[int, asyncio.Future[SessionState | None]] = {}

    async def __call__(self, request: web.Request) -> int:
        principal = await self.principal(request.app[RUNTIME], bearer_token(request))
        request[PRINCIPAL] = principal
        return principal.user_id

    async def principal(self, runtime: Runtime, token: str) -> Principal:
        """Who holds this access token, if its session is still live."""
        claims = self.tokens.decode_access(token)
        state = await self.session_state(runtime, claims.session_id)
        if state is None or state.user_id != claims.user_id:
            raise InvalidToken()
        if state.revoked:
            raise SessionRevoked()
        if state.disabled:
            raise AccountDisabled()
        return Principal(claims.user_id, claims.session_id, state.roles, claims.expires_at)

    async def session_state(self, runtime: Runtime, session_id: int) -> SessionState | None:
        now = time.monotonic()
        cached = self._cache.get(session_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        # When an entry expires, every request of that session misses at once: one reads.
        pending = self._loading.get(session_id)
        if pending is not None:
            return await asyncio.shield(pending)
        task = asyncio.ensure_future(self._load(runtime, session_id, now))
        self._loading[session_id] = task
        try:
            return await asyncio.shield(task)
        finally:
            if task.done():
                self._loading.pop(session_id, None)
            else:
                task.add_done_callback(lambda _: self._loading.pop(session_id, None))

    async def _load(self, runtime: Runtime, session_id: int, now: float) -> SessionState | None:
        async with runtime.db.connection() as conn:
            state = await queries.session_state(conn, session_id=session_id)
        wall_clock = runtime.clock.now()
        if (
            state is not None
            and not state.revoked
            and state.last_seen_at < wall_clock - TOUCH_EVERY
        ):
            async with runtime.db.unit_of_work() as uow:
                await queries.touch_session(
                    uow.session, session_id=session_id, now=wall_clock, every=TOUCH_EVERY
                )
        if len(self._cache) >= MAX_CACHED_SESSIONS:
            self._evict(now)
        self._cache[session_id] = (now + self.cache_seconds, state)
        return state

    def forget(self, *session_ids: int) -> None:
        """Drop sessions this process just changed, so it sees the change at once (other
        processes see it within their cache time)."""
        for session_id in session_ids:
            self._cache.pop(session_id, None)

    def _evict(self, now: float) -> None:
        self._cache = {sid: entry for sid, entry in self._cache.items() if entry[0] > now}
        if len(self._cache) >= MAX_CACHED_SESSIONS:
            self._cache.clear()
