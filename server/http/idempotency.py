"""Idempotency-Key: one effect per key, the first response replayed for 24 hours.

A request with a key claims it by inserting a row in its own committed transaction; the unique
index makes exactly one of any number of concurrent requests the holder. The holder leases the
key for IDEMPOTENCY_LEASE_SECONDS and runs. Every transaction it commits meanwhile also marks the
key `took_effect`, and cannot commit once its lease was taken over: the effect and the mark
commit or roll back together. Then the holder stores its response (2xx) or releases the key
(errors change nothing, so retrying is safe). When the database fails under it, the store or
release is retried in the background until the database returns, and a 2xx still reaches the
client.

Others get the stored response, 409 `idempotency.in_progress` while the holder's lease runs, or
409 `idempotency.mismatch` when the same key comes with another request. After the lease (the
holder died or failed mid-way) a retry takes the key over and runs, unless something took
effect: then only a route that answers repeats from its own references runs again (a wallet
consume replays by its `reference`); others answer 409 `idempotency.outcome_unknown`, since
running them again would do it twice.

A route that can rebuild its answer declares a `Replay`: its effect names what it produced
(`produced("order", order.id)`), written on the key as `result_ref` in the effect's own
transaction. A retry that finds the effect taken and the answer lost takes the key over and
answers that entity, built by the route's own serializer with the route's success status and
`Idempotent-Replayed: true`; the answer is stored for later retries. The entity is shown as it is
now, not as it was: the first answer's bytes are what was lost, and the entity's present state
(an order since paid, a refund since succeeded) is what the client needs next; its id is the
same, so no second effect. Only routes without a replay answer `idempotency.outcome_unknown`.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from aiohttp import web
from sqlalchemy import ColumnElement, delete, event, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from models.platform import IdempotencyKey
from server.clock import Clock
from server.db import is_unavailable
from server.http.errors import ApiError, BadRequest, Conflict
from server.http.registry import Route, render
from server.keys import RUNTIME, USER_ID

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 191
# Marks this module's own sessions: claiming, storing and releasing are not the holder's effect.
OWN_SESSION = "idempotency.bookkeeping"
# Background retries of a store or release wait this long at first, doubling up to the cap.
RETRY_FIRST, RETRY_CAP = 0.2, 5.0

log = structlog.get_logger("server.http.idempotency")


class InProgress(Conflict):
    code, message = "idempotency.in_progress", "A request with this key is still in progress."


class Mismatch(Conflict):
    code, message = "idempotency.mismatch", "This key was used with a different request."


class OutcomeUnknown(Conflict):
    code, message = (
        "idempotency.outcome_unknown",
        "The request with this key took effect but its answer was lost; look the result up "
        "instead of retrying.",
    )


class InvalidKey(BadRequest):
    code, message = "idempotency.invalid_key", "Idempotency-Key must be 1-191 visible characters."


@dataclass(frozen=True, slots=True)
class Lease:
    """The holder's claim on a key row: only the current token may mark, store or release.
    `produced` is the id of the entity a retry answers from instead of running again."""

    key_id: int
    token: str
    produced: int | None = None

    def condition(self) -> ColumnElement[bool]:
        return (IdempotencyKey.id == self.key_id) & (IdempotencyKey.lease_token == self.token)


_HOLDING: ContextVar[Lease | None] = ContextVar("idempotency_lease", default=None)
_PRODUCED: ContextVar[str | None] = ContextVar("idempotency_produced", default=None)
_PENDING: set[asyncio.Task[None]] = set()  # background stores and releases (kept referenced)


def produced(kind: str, entity_id: int) -> None:
    """Name what the running request's effect produced; it is written on the key with the
    effect, so a retry whose answer was lost can be answered from it. No-op without a key."""
    if _HOLDING.get() is not None:
        _PRODUCED.set(f"{kind}:{entity_id}")


def _produced_id(ref: str | None, kind: str) -> int | None:
    found_kind, _, entity_id = (ref or "").partition(":")
    return int(entity_id) if found_kind == kind and entity_id.isdigit() else None


@event.listens_for(Session, "before_commit")
def _mark_effect(session: Session) -> None:
    """In the holder's transactions: mark the key `took_effect`, or refuse to commit when a
    retry took the key over after the lease (its run is the one that counts)."""
    lease = _HOLDING.get()
    if lease is None or session.info.get(OWN_SESSION):
        return
    ref = _PRODUCED.get()
    marked = session.execute(
        update(IdempotencyKey)
        .where(lease.condition(), IdempotencyKey.status_code.is_(None))
        .values(took_effect=True, **({"result_ref": ref} if ref else {}))
        .execution_options(synchronize_session=False)
    )
    if _rowcount(marked) != 1:
        raise InProgress()


def request_fingerprint(method: str, path_qs: str, body: bytes) -> str:
    digest = hashlib.sha256(f"{method} {path_qs}\n".encode())
    digest.update(body)
    return digest.hexdigest()


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _bookkeeping(sessions: async_sessionmaker[AsyncSession]) -> AsyncSession:
    return sessions(info={OWN_SESSION: True})


@dataclass(frozen=True, slots=True)
class _Claim:
    scope: str
    key: str
    fingerprint: str
    user_id: int
    now: datetime
    ttl: timedelta
    lease: timedelta
    replays: bool
    rebuilds: str | None  # the kind of entity the route's Replay answers from


async def _claim(
    sessions: async_sessionmaker[AsyncSession], claim: _Claim
) -> Lease | IdempotencyKey:
    """Hold the key (a Lease), or the completed row to replay; raises the 409s."""
    token = secrets.token_hex(16)
    for _ in range(3):
        async with _bookkeeping(sessions) as session:
            row = IdempotencyKey(
                scope=claim.scope,
                key=claim.key,
                request_hash=claim.fingerprint,
                user_id=claim.user_id,
                created_at=claim.now,
                expires_at=claim.now + claim.ttl,
                lease_token=token,
                locked_until=claim.now + claim.lease,
            )
            session.add(row)
            try:
                await session.commit()
                return Lease(row.id, token)
            except IntegrityError:
                await session.rollback()
            existing = await session.scalar(
                select(IdempotencyKey).where(
                    IdempotencyKey.scope == claim.scope, IdempotencyKey.key == claim.key
                )
            )
            if existing is None:
                continue  # released in between: try to claim again
            if existing.expires_at <= claim.now:
                await session.execute(
                    delete(IdempotencyKey).where(IdempotencyKey.id == existing.id)
                )
                await session.commit()
                continue
            if await _answer_or_take_over(session, existing, claim, token):
                rebuild = _produced_id(existing.result_ref, claim.rebuilds or "")
                return Lease(existing.id, token, rebuild if existing.took_effect else None)
            if existing.status_code is not None:
                return existing
    raise InProgress()


async def _answer_or_take_over(
    session: AsyncSession, existing: IdempotencyKey, claim: _Claim, token: str
) -> bool:
    """True when the key was taken over from a holder whose lease ran out; False to replay the
    stored response (or to look again: it changed meanwhile). Raises the 409s."""
    if existing.request_hash != claim.fingerprint:
        raise Mismatch()
    if existing.status_code is not None:
        return False
    held_until = existing.locked_until or existing.created_at + claim.lease
    if held_until > claim.now:
        raise InProgress()
    rebuildable = _produced_id(existing.result_ref, claim.rebuilds or "") is not None
    if existing.took_effect and not (claim.replays or rebuildable):
        raise OutcomeUnknown()
    previous = (
        IdempotencyKey.lease_token.is_(None)
        if existing.lease_token is None
        else IdempotencyKey.lease_token == existing.lease_token
    )
    # The holder's own mark may be committing right now: the takeover waits for its row lock and
    # then finds `took_effect` changed (and looks again), or wins and the holder cannot commit.
    taken = await session.execute(
        update(IdempotencyKey)
        .where(
            IdempotencyKey.id == existing.id,
            previous,
            IdempotencyKey.status_code.is_(None),
            IdempotencyKey.took_effect == existing.took_effect,
        )
        .values(lease_token=token, locked_until=claim.now + claim.lease)
    )
    await session.commit()
    return _rowcount(taken) == 1


async def _store(
    sessions: async_sessionmaker[AsyncSession], lease: Lease, response: web.Response
) -> None:
    async with _bookkeeping(sessions) as session:
        await session.execute(
            update(IdempotencyKey)
            .where(lease.condition())
            .values(
                status_code=response.status,
                response_body=response.body,
                content_type=response.content_type,
                locked_until=None,
            )
        )
        await session.commit()


async def _release(
    sessions: async_sessionmaker[AsyncSession], lease: Lease, now: datetime, *, answered: bool
) -> None:
    """Free the key for a retry. A request that ended in an error after its effect committed
    (a lost answer, not a refusal) keeps the key, its lease ended, for a retry to decide."""
    async with _bookkeeping(sessions) as session:
        condition = lease.condition()
        if not answered:
            condition = condition & IdempotencyKey.took_effect.is_(False)
        released = await session.execute(delete(IdempotencyKey).where(condition))
        if _rowcount(released) == 0:
            await session.execute(
                update(IdempotencyKey).where(lease.condition()).values(locked_until=now)
            )
        await session.commit()


def _unavailable(exc: BaseException) -> bool:
    return is_unavailable(exc) or isinstance(exc, TimeoutError)


async def _settle(action: Callable[[], Awaitable[None]], clock: Clock, until: datetime) -> None:
    """Store or release now; when the database is away, keep trying in the background. Never
    raises: the request's own outcome is the answer, and the lease frees a key left held."""
    try:
        await action()
    except Exception as exc:
        if not _unavailable(exc):
            log.error("idempotency.settle_failed", error=type(exc).__name__, exc_info=exc)
            return
        log.warning("idempotency.settle_deferred", error=type(exc).__name__)
        task = asyncio.create_task(_keep_trying(action, clock, until))
        _PENDING.add(task)
        task.add_done_callback(_PENDING.discard)


async def _keep_trying(
    action: Callable[[], Awaitable[None]], clock: Clock, until: datetime
) -> None:
    delay = RETRY_FIRST
    while True:
        await asyncio.sleep(delay)
        try:
            await action()
            return
        except Exception as exc:
            if not _unavailable(exc) or clock.now() >= until:
                # The lease still frees the key; only a 2xx's stored copy is lost.
                log.error("idempotency.settle_failed", error=type(exc).__name__)
                return
        delay = min(delay * 2, RETRY_CAP)


def _storable(response: web.StreamResponse) -> bool:
    return (
        200 <= response.status < 300
        and isinstance(response, web.Response)
        and isinstance(response.body, bytes)
    )


def _replay(row: IdempotencyKey) -> web.Response:
    return web.Response(
        body=row.response_body,
        status=row.status_code or 200,
        content_type=row.content_type or "application/json",
        headers={REPLAYED_HEADER: "true"},
    )


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
    settings = runtime.settings
    claim = _Claim(
        scope=f"{user_id}:{route.method} {route.path}",
        key=key,
        fingerprint=request_fingerprint(request.method, request.path_qs, await request.read()),
        user_id=user_id,
        now=runtime.clock.now(),
        ttl=timedelta(seconds=settings.idempotency_ttl_seconds),
        lease=timedelta(seconds=settings.idempotency_lease_seconds),
        replays=route.replays,
        rebuilds=route.replay.kind if route.replay else None,
    )
    held = await _claim(runtime.db.sessions, claim)
    if isinstance(held, IdempotencyKey):
        return _replay(held)
    until = claim.now + claim.ttl
    if held.produced is not None:
        rebuilt = _rebuilder(request, route, held.produced)
        return await _hold(runtime.db.sessions, runtime.clock, held, until, rebuilt, keep=True)
    return await _hold(runtime.db.sessions, runtime.clock, held, until, run)


def _rebuilder(
    request: web.Request, route: Route, entity_id: int
) -> Callable[[], Awaitable[web.StreamResponse]]:
    """The route's answer rebuilt from the entity its effect produced."""
    replay = route.replay
    assert replay is not None

    async def rebuild() -> web.StreamResponse:
        try:
            result = await replay.rebuild(request, entity_id)
        except ApiError as exc:
            if exc.status >= 500:
                raise
            raise OutcomeUnknown() from exc  # gone since, or no longer the caller's to see
        response = render(route, result)
        response.headers[REPLAYED_HEADER] = "true"
        return response

    return rebuild


async def _hold(
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    held: Lease,
    until: datetime,
    run: Callable[[], Awaitable[web.StreamResponse]],
    *,
    keep: bool = False,
) -> web.StreamResponse:
    """Run as the key's holder, then store the response or release the key. `keep`: the
    effect already took place, so even a refusal only ends the lease (never frees the key)."""
    holding, producing = _HOLDING.set(held), _PRODUCED.set(None)
    try:
        response = await run()
    except BaseException as exc:
        _HOLDING.reset(holding)
        _PRODUCED.reset(producing)
        answered = isinstance(exc, ApiError) and exc.status < 500 and not keep
        await _settle(
            lambda: _release(sessions, held, clock.now(), answered=answered), clock, until
        )
        raise
    _HOLDING.reset(holding)
    _PRODUCED.reset(producing)
    if _storable(response):
        assert isinstance(response, web.Response)
        await _settle(lambda: _store(sessions, held, response), clock, until)
        return response
    await _settle(lambda: _release(sessions, held, clock.now(), answered=True), clock, until)
    return response


async def purge_expired(sessions: async_sessionmaker[AsyncSession], now: datetime) -> int:
    """Delete keys past their expiry; returns how many."""
    async with sessions() as session:
        result = await session.execute(
            delete(IdempotencyKey).where(IdempotencyKey.expires_at <= now)
        )
        await session.commit()
    return _rowcount(result)
