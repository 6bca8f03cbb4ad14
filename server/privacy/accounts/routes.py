"""Deactivating, deleting and exporting one's own account."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from server.http.registry import RouteTable
from server.keys import RATE_LIMITER, RUNTIME, SESSION_GUARD, SETTINGS, USER_ID
from server.privacy.accounts import exports, service
from server.privacy.accounts.schemas import (
    DeactivateIn,
    DeleteIn,
    DeletionOut,
    ExportOut,
    ExportParams,
)

routes = RouteTable("accounts", "Deactivating, deleting and exporting one's own account.")


async def _confirm(request: web.Request, password: str | None) -> None:
    await service.confirm_password(
        request.app[RUNTIME].db,
        limiter=request.app[RATE_LIMITER],
        attempts=request.app[SETTINGS].account_password_attempts,
        user_id=request[USER_ID],
        password=password,
    )


@routes.post(
    "/api/v1/me/deactivate", body=DeactivateIn, status=204, errors=frozenset({403, 422, 429})
)
async def deactivate(request: web.Request, body: DeactivateIn) -> None:
    """Close your account for now: signed out everywhere; sign in again within the grace
    period (ACCOUNT_REACTIVATION_DAYS) to reopen it, else it is deleted"""
    await _confirm(request, body.password)
    runtime = request.app[RUNTIME]
    grace = timedelta(days=request.app[SETTINGS].account_reactivation_days)
    async with runtime.db.unit_of_work() as uow:
        sessions = await service.deactivate(
            uow, user_id=request[USER_ID], grace=grace, now=runtime.clock.now()
        )
    request.app[SESSION_GUARD].forget(*sessions)


@routes.post(
    "/api/v1/me/delete",
    body=DeleteIn,
    response=DeletionOut,
    status=202,
    errors=frozenset({403, 422, 429}),
)
async def delete(request: web.Request, body: DeleteIn) -> DeletionOut:
    """Delete your account now: it can never sign in again and your personal data is erased"""
    await _confirm(request, body.password)
    runtime = request.app[RUNTIME]
    now = runtime.clock.now()
    async with runtime.db.unit_of_work() as uow:
        sessions = await service.delete(uow, user_id=request[USER_ID], now=now)
    request.app[SESSION_GUARD].forget(*sessions)
    return DeletionOut(deleted_at=now)


@routes.post("/api/v1/me/exports", response=ExportOut, status=202, errors=frozenset({409}))
async def request_export(request: web.Request) -> ExportOut:
    """Ask for an archive of your data; follow it with GET (and job.progress events)"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        return await exports.request_export(uow, user_id=request[USER_ID], now=runtime.clock.now())


@routes.get("/api/v1/me/exports/{id}", params=ExportParams, response=ExportOut)
async def get_export(request: web.Request, params: ExportParams) -> ExportOut:
    """One of your exports; once ready, with a signed download link for you alone"""
    runtime = request.app[RUNTIME]
    async with runtime.db.read() as session:
        return await exports.get_export(
            session,
            user_id=request[USER_ID],
            export_id=params.id,
            signer=runtime.signer,
            link_ttl=timedelta(seconds=request.app[SETTINGS].data_export_link_seconds),
            now=runtime.clock.now(),
        )
