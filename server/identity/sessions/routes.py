"""Signed-in sessions, two-factor authentication and push devices."""

from __future__ import annotations

from aiohttp import web

from server.http.pagination import Page, PageQuery
from server.http.registry import RouteTable
from server.identity.auth import twofactor
from server.identity.sessions import service
from server.identity.sessions.schemas import (
    CodeIn,
    DeviceIn,
    DeviceOut,
    DevicePath,
    RecoveryCodesOut,
    RevokedOut,
    SessionOut,
    SessionPath,
    TotpSetupOut,
    TwoFactorStatus,
)
from server.keys import PRINCIPAL, RATE_LIMITER, RUNTIME, SESSION_GUARD, SETTINGS, USER_ID

routes = RouteTable("sessions", "Signed-in sessions, two-factor authentication and push devices.")


def second_factor_throttle(request: web.Request) -> twofactor.SecondFactorThrottle:
    """Wrong codes per account, shared by sign-in and the settings below."""
    return twofactor.SecondFactorThrottle(
        request.app[RATE_LIMITER], rate=request.app[SETTINGS].two_factor_throttle
    )


# -- sessions ---------------------------------------------------------------------------------


@routes.get("/api/v1/me/sessions", query=PageQuery, response=Page[SessionOut])
async def list_sessions(request: web.Request, query: PageQuery) -> Page[SessionOut]:
    """The signed-in user's live sessions, newest first; `current` marks this one"""
    async with request.app[RUNTIME].db.read() as session:
        return await service.list_sessions(
            session,
            user_id=request[USER_ID],
            current_session_id=request[PRINCIPAL].session_id,
            limit=query.limit,
            cursor=query.cursor,
        )


@routes.delete("/api/v1/me/sessions/{id}", params=SessionPath, status=204)
async def end_session(request: web.Request, params: SessionPath) -> None:
    """Sign one session out (its tokens stop working, its sockets and devices go)"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        await service.end_own_session(
            uow.session, user_id=request[USER_ID], session_id=params.id, now=runtime.clock.now()
        )
    request.app[SESSION_GUARD].forget(params.id)


@routes.post("/api/v1/me/sessions/revoke_others", response=RevokedOut)
async def end_other_sessions(request: web.Request) -> RevokedOut:
    """Sign out everywhere else: every session but this one ends"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        ended = await service.end_other_sessions(
            uow.session,
            user_id=request[USER_ID],
            keep_session_id=request[PRINCIPAL].session_id,
            now=runtime.clock.now(),
        )
    request.app[SESSION_GUARD].forget(*ended)
    return RevokedOut(revoked=len(ended))


# -- devices ----------------------------------------------------------------------------------


@routes.post("/api/v1/me/devices", body=DeviceIn, response=DeviceOut, status=201)
async def register_device(request: web.Request, body: DeviceIn) -> DeviceOut:
    """Register this app installation for push (the same token again updates it)"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        return await service.register_device(
            uow.session,
            user_id=request[USER_ID],
            session_id=request[PRINCIPAL].session_id,
            device=body,
            now=runtime.clock.now(),
        )


@routes.get("/api/v1/me/devices", query=PageQuery, response=Page[DeviceOut])
async def list_devices(request: web.Request, query: PageQuery) -> Page[DeviceOut]:
    """The signed-in user's push devices, newest first"""
    async with request.app[RUNTIME].db.read() as session:
        return await service.list_devices(
            session,
            user_id=request[USER_ID],
            current_session_id=request[PRINCIPAL].session_id,
            limit=query.limit,
            cursor=query.cursor,
        )


@routes.delete("/api/v1/me/devices/{id}", params=DevicePath, status=204)
async def remove_device(request: web.Request, params: DevicePath) -> None:
    """Stop pushing to one device"""
    async with request.app[RUNTIME].db.unit_of_work() as uow:
        await service.remove_device(uow.session, user_id=request[USER_ID], device_id=params.id)


# -- two-factor authentication ----------------------------------------------------------------


@routes.get("/api/v1/me/2fa", response=TwoFactorStatus)
async def two_factor_status(request: web.Request) -> TwoFactorStatus:
    """Whether two-factor authentication is on, and how many recovery codes are left"""
    async with request.app[RUNTIME].db.read() as session:
        enabled, left = await twofactor.status(session, user_id=request[USER_ID])
    return TwoFactorStatus(enabled=enabled, recovery_codes_left=left)


@routes.post("/api/v1/me/2fa/totp/setup", response=TotpSetupOut, errors=frozenset({409}))
async def set_up_totp(request: web.Request) -> TotpSetupOut:
    """Start TOTP: a new secret to scan; it counts once enabled with a first code"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        setup = await twofactor.set_up_totp(
            uow.session,
            runtime.pii,
            user_id=request[USER_ID],
            issuer=request.app[SETTINGS].totp_issuer,
            now=runtime.clock.now(),
        )
    return TotpSetupOut(**setup)


@routes.post(
    "/api/v1/me/2fa/totp/enable",
    body=CodeIn,
    response=RecoveryCodesOut,
    errors=frozenset({403, 409}),
)
async def enable_totp(request: web.Request, body: CodeIn) -> RecoveryCodesOut:
    """Turn two-factor on with a code from the authenticator; answers the recovery codes"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        codes = await twofactor.enable_totp(
            uow.session,
            runtime.pii,
            throttle=second_factor_throttle(request),
            user_id=request[USER_ID],
            code=body.code,
            now=runtime.clock.now(),
        )
    return RecoveryCodesOut(recovery_codes=codes)


@routes.post("/api/v1/me/2fa/disable", body=CodeIn, status=204, errors=frozenset({403, 409}))
async def disable_two_factor(request: web.Request, body: CodeIn) -> None:
    """Turn two-factor off with an authenticator or recovery code"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        await twofactor.disable_totp(
            uow.session,
            runtime.pii,
            throttle=second_factor_throttle(request),
            user_id=request[USER_ID],
            code=body.code,
            now=runtime.clock.now(),
        )


@routes.post(
    "/api/v1/me/2fa/recovery_codes",
    body=CodeIn,
    response=RecoveryCodesOut,
    errors=frozenset({403, 409}),
)
async def regenerate_recovery_codes(request: web.Request, body: CodeIn) -> RecoveryCodesOut:
    """Replace the recovery codes (the old ones stop working)"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        codes = await twofactor.regenerate_recovery_codes(
            uow.session,
            runtime.pii,
            throttle=second_factor_throttle(request),
            user_id=request[USER_ID],
            code=body.code,
            now=runtime.clock.now(),
        )
    return RecoveryCodesOut(recovery_codes=codes)
