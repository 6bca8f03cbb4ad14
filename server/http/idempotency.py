"""Idempotency-Key: one effect per key, the first response replayed for 24 hours.

A request with a key first claims it by inserting a row in its own committed transaction; the
unique index makes exactly one of any number of concurrent requests the owner. The owner runs,
then stores its response (2xx) or releases the key (errors change nothing, so retrying is safe).
Others get the stored response, 409 `idempotency.in_progress` while the owner runs, or 409
`idempotency.mismatch` when the same key comes with another request. A key whose owner died
mid-request stays "in progress" until it expires rather than risk a second effect.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from aiohttp import web
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models.platform import IdempotencyKey
from server.http.errors import BadRequest, Conflict
from server.http.registry import Route
from server.keys import RUNTIME, USER_ID

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 191


class InProgress(Conflict):
    code, message = "idempotency.in_progress", "A request with this key is still in progress."


class Mismatch(Conflict):
    code, message = "idempotency.mismatch", "This key was used with a different request."


class InvalidKey(BadRequest):
    code, message = "idempotency.invalid_key", "Idempotency-Key must be 1-191 visible characters."


def request_fingerprint(method: str, path_qs: str, body: bytes) -> str:
    digest = hashlib.sha256(f"{method} {path_qs}\n".encode())
    digest.update(body)
    return digest.hexdigest()


async def _claim(
    sessions: async_sessionmaker[AsyncSession],
    *,
    scope: str,
    key: str,
    fingerprint: str,
    user_id: int,
    now: datetime,
    ttl: timedelta,
) -> IdempotencyKey | None:
    """Insert the key; None if we now own it, else the existing row."""
    for _ in range(2):
        async with sessions() as session:
            session.add(
                IdempotencyKey(
                    scope=scope,
                    key=key,
                    request_hash=fingerprint,
                    user_id=user_id,
                    created_at=now,
                    expires_at=now + ttl,
                )
            )
            try:
                await session.commit()
                return None
            except IntegrityError:
                await session.rollback()
            existing = await session.scalar(
                select(IdempotencyKey).where(
                    IdempotencyKey.scope == scope, IdempotencyKey.key == key
                )
            )
            if existing is None:
                continue  # released in between: try to claim again
            if existing.expires_at > now:
                return existing
            await session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == existing.id))
            await session.commit()
    raise InProgress()


async def _finish(
    sessions: async_sessionmaker[AsyncSession], scope: str, key: str, response: web.StreamResponse
) -> None:
    condition = (IdempotencyKey.scope == scope) & (IdempotencyKey.key == key)
    async with sessions() as session:
        body = response.body if isinstance(response, web.Response) else None
        if 200 <= response.status < 300 and isinstance(body, bytes):
            await session.execute(
                update(IdempotencyKey)
                .where(condition)
                .values(
                    status_code=response.status,
                    response_body=body,
                    content_type=response.content_type,
                )
            )
        else:
            await session.execute(delete(IdempotencyKey).where(condition))
        await session.commit()


async def idempotent(
    request: web.Request, route: Route, run: Callable[[], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Wrap an idempotent route's handler; anonymous requests and requests without a key pass."""
    key = request.headers.get(HEADER)
    user_id = request.get(USER_ID)
    if key is None or user_id is None:
        return await run()
    if not 0 < len(key) <= MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidKey()
    runtime = request.app[RUNTIME]
    sessions = runtime.db.sessions
    scope = f"{user_id}:{route.method} {route.path}"
    fingerprint = request_fingerprint(request.method, request.path_qs, await request.read())
    existing = await _claim(
        sessions,
        scope=scope,
        key=key,
        fingerprint=fingerprint,
        user_id=user_id,
        now=runtime.clock.now(),
        ttl=timedelta(seconds=runtime.settings.idempotency_ttl_seconds),
    )
    if existing is not None:
        if existing.request_hash != fingerprint:
            raise Mismatch()
        if existing.status_code is None or existing.response_body is None:
            raise InProgress()
        return web.Response(
            body=existing.response_body,
            status=existing.status_code,
            content_type=existing.content_type or "application/json",
            headers={REPLAYED_HEADER: "true"},
        )
    try:
        response = await run()
    except BaseException:
        await _finish(sessions, scope, key, web.Response(status=500))
        raise
    await _finish(sessions, scope, key, response)
    return response


async def purge_expired(sessions: async_sessionmaker[AsyncSession], now: datetime) -> int:
    """Delete keys past their expiry; returns how many."""
    async with sessions() as session:
        result = await session.execute(
            delete(IdempotencyKey).where(IdempotencyKey.expires_at <= now)
        )
        await session.commit()
    return int(getattr(result, "rowcount", 0) or 0)
