"""HTTP routes: the credits wallet (balance, consume, history) and its admin view."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
import weakref
from collections.abc import AsyncIterator

from aiohttp import web

from server.commerce.wallet import queries, service
from server.commerce.wallet.schemas import (
    AdjustmentIn,
    ConsumeIn,
    TransactionOut,
    TransactionQuery,
    WalletChangeOut,
    WalletOut,
    WalletUserPath,
)
from server.http import idempotency
from server.http.errors import NotFound, ServiceUnavailable
from server.http.limits import client_ip
from server.http.pagination import Page
from server.http.registry import Replay, RouteTable
from server.keys import RUNTIME, SETTINGS, USER_ID

routes = RouteTable("wallet", "Credits: balance, spending, history and admin adjustments.")

ADMIN = ("admin",)
SPEND = (
    "Spends credits once per `reference` (a repeat answers the first outcome with "
    "`replayed: true` and moves nothing; the same reference with another amount is 409 "
    "`wallet.reference_reused`). Too few credits: 409 `wallet.insufficient_funds`. "
    "Publishes `wallet.updated`."
)


# Consumes of one wallet in flight per process (the rest wait here, holding no connection).
PER_WALLET = 8
_QUEUES: weakref.WeakValueDictionary[int, asyncio.Semaphore] = weakref.WeakValueDictionary()
# Consumes of all wallets in flight per process, as a share of the pool: each holds a pooled
# connection for its transaction and takes another to relay its event after commit, so with the
# pool full the relays of admitted consumes would queue behind new arrivals (and time out).
_GATES: weakref.WeakKeyDictionary[web.Application, asyncio.Semaphore] = weakref.WeakKeyDictionary()


class WalletBusy(ServiceUnavailable):
    message = "Too many spends are waiting; retry later."


async def _place(gate: asyncio.Semaphore, wait: float) -> None:
    """A place at `gate`, waited for at most `wait` seconds (else WalletBusy)."""
    if gate.locked():
        try:
            # A place granted just as the time runs out is kept, or handed back by the semaphore.
            await asyncio.wait_for(gate.acquire(), wait)
        except TimeoutError:
            raise WalletBusy() from None
    else:
        await gate.acquire()


@contextlib.asynccontextmanager
async def _wallet_queue(request: web.Request, user_id: int) -> AsyncIterator[None]:
    """A place among the wallet's spends in flight, then among all spends in flight, waited for
    at most `wallet_queue_timeout_seconds` in all: under a slow database the queues would
    otherwise grow without bound, each spend answered late."""
    settings = request.app[SETTINGS]
    deadline = time.monotonic() + settings.wallet_queue_timeout_seconds
    gate = _QUEUES.get(user_id)
    if gate is None:
        gate = _QUEUES[user_id] = asyncio.Semaphore(PER_WALLET)
    everyone = _GATES.get(request.app)
    if everyone is None:
        everyone = _GATES[request.app] = asyncio.Semaphore(max(1, settings.database_pool_size))
    await _place(gate, deadline - time.monotonic())
    try:
        await _place(everyone, max(0.0, deadline - time.monotonic()))
        try:
            yield
        finally:
            everyone.release()
    finally:
        gate.release()


async def _wallet(request: web.Request, user_id: int) -> WalletOut:
    async with request.app[RUNTIME].db.connection() as conn:
        held = await service.balance(conn, user_id=user_id)
    return WalletOut(
        user_id=user_id, balance=held, credit_value_fen=request.app[SETTINGS].credit_value_fen
    )


async def _history(
    request: web.Request, user_id: int, query: TransactionQuery
) -> Page[TransactionOut]:
    async with request.app[RUNTIME].db.connection() as conn:
        return await queries.transactions(
            conn,
            user_id=user_id,
            limit=query.limit,
            cursor=query.cursor,
            kind=query.kind,
            since=query.since,
            until=query.until,
        )


def _out(change: service.WalletChange) -> WalletChangeOut:
    return WalletChangeOut(
        transaction_id=change.transaction_id,
        amount=change.amount,
        balance=change.balance,
        replayed=change.replayed,
    )


async def _adjustment(request: web.Request, transaction_id: int) -> WalletChangeOut:
    async with request.app[RUNTIME].db.read() as session:
        change = await service.posting(session, transaction_id=transaction_id)
    if change is None:
        raise NotFound(code="wallet.transaction_not_found", message="No such transaction.")
    return _out(change)


@routes.get("/api/v1/wallet", response=WalletOut)
async def get_wallet(request: web.Request) -> WalletOut:
    """My credits balance"""
    return await _wallet(request, request[USER_ID])


@routes.post(
    "/api/v1/wallet/consume",
    body=ConsumeIn,
    response=WalletChangeOut,
    idempotent=True,
    replays=True,
    errors=frozenset({409}),
    description=SPEND,
)
async def consume(request: web.Request, body: ConsumeIn) -> WalletChangeOut:
    """Spend credits"""
    # A burst on one wallet queues here, not on pooled connections waiting for its row lock,
    # so it cannot starve the pool (the row lock still rules, across processes too).
    async with (
        _wallet_queue(request, request[USER_ID]),
        request.app[RUNTIME].db.unit_of_work() as uow,
    ):
        change = await service.consume(
            uow,
            user_id=request[USER_ID],
            amount=body.amount,
            reference=body.reference,
            memo=body.reason,
            now=request.app[RUNTIME].clock.now(),
            rolls_back=True,  # a refusal leaves the unit of work, which rolls back
        )
    return _out(change)


@routes.get("/api/v1/wallet/transactions", query=TransactionQuery, response=Page[TransactionOut])
async def list_transactions(request: web.Request, query: TransactionQuery) -> Page[TransactionOut]:
    """My credits history, newest first (filters: kind, since, until)"""
    return await _history(request, request[USER_ID], query)


@routes.get(
    "/api/v1/admin/wallets/{user_id}", params=WalletUserPath, response=WalletOut, roles=ADMIN
)
async def admin_get_wallet(request: web.Request, params: WalletUserPath) -> WalletOut:
    """A user's credits balance"""
    return await _wallet(request, params.user_id)


@routes.get(
    "/api/v1/admin/wallets/{user_id}/transactions",
    params=WalletUserPath,
    query=TransactionQuery,
    response=Page[TransactionOut],
    roles=ADMIN,
)
async def admin_list_transactions(
    request: web.Request, params: WalletUserPath, query: TransactionQuery
) -> Page[TransactionOut]:
    """A user's credits ledger, newest first"""
    return await _history(request, params.user_id, query)


@routes.post(
    "/api/v1/admin/wallets/{user_id}/adjustments",
    params=WalletUserPath,
    body=AdjustmentIn,
    response=WalletChangeOut,
    status=201,
    roles=ADMIN,
    idempotent=True,
    replay=Replay("wallet_transaction", _adjustment),
    errors=frozenset({409}),
    description="A signed correction, audited; it never takes the wallet below zero (409 "
    "`wallet.insufficient_funds`). Publishes `wallet.updated` to the user.",
)
async def adjust_wallet(
    request: web.Request, params: WalletUserPath, body: AdjustmentIn
) -> WalletChangeOut:
    """Adjust a user's credits"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        change = await service.admin_adjust(
            uow,
            user_id=params.user_id,
            amount=body.amount,
            reason=body.reason,
            reference=body.reference or uuid.uuid4().hex,
            admin_id=request[USER_ID],
            ip=client_ip(request, request.app[SETTINGS].trust_forwarded_for),
            clock=runtime.clock,
        )
        if change.transaction_id is not None:
            idempotency.produced("wallet_transaction", change.transaction_id)
    return _out(change)
