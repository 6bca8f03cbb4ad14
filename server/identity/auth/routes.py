"""Sign-up, sign-in, token refresh, sign-out, introspection and the public signing key."""

from __future__ import annotations

from aiohttp import web

from server import screening
from server.http.limits import client_ip
from server.http.registry import RouteTable
from server.identity.auth import service, twofactor
from server.identity.auth.responses import SIGN_IN_DESCRIPTION, SignInResult, signed_in_response
from server.identity.auth.schemas import (
    Credentials,
    Jwks,
    LoginIn,
    RefreshIn,
    RegisterIn,
    SignedIn,
    TokenInfo,
    TokenPair,
    TwoFactorVerifyIn,
)
from server.identity.auth.service import Client
from server.identity.auth.throttle import LoginThrottle
from server.keys import PRINCIPAL, RATE_LIMITER, RUNTIME, SESSION_GUARD, SETTINGS, TOKENS

routes = RouteTable("auth", "Accounts, sign-in, sessions and tokens.")


def _client(request: web.Request, body: Credentials) -> Client:
    return Client(
        ip=client_ip(request, request.app[SETTINGS].trust_forwarded_for),
        user_agent=request.headers.get("User-Agent"),
        device_name=body.device_name,
        platform=body.platform,
    )


@routes.post(
    "/api/v1/auth/register",
    body=RegisterIn,
    response=SignedIn,
    status=201,
    auth=False,
    errors=frozenset({409}),
)
async def register(request: web.Request, body: RegisterIn) -> SignedIn:
    """Create an account with an email or a phone number, and sign in"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        return await service.register(
            uow,
            tokens=request.app[TOKENS],
            pii=runtime.pii,
            email=body.email,
            phone=body.phone,
            password=body.password,
            nickname=body.nickname,
            client=_client(request, body),
            now=runtime.clock.now(),
            word_list=screening.policy_of(request.app[SETTINGS]).word_list,
        )


@routes.post(
    "/api/v1/auth/login",
    body=LoginIn,
    response=SignInResult,
    auth=False,
    errors=frozenset({401, 403}),
    description=SIGN_IN_DESCRIPTION,
)
async def login(request: web.Request, body: LoginIn) -> web.Response:
    """Sign in with an email or a phone number and a password"""
    runtime, settings = request.app[RUNTIME], request.app[SETTINGS]
    throttle = LoginThrottle(
        request.app[RATE_LIMITER],
        per_account=settings.login_throttle_account,
        per_ip=settings.login_throttle_ip,
    )
    async with runtime.db.unit_of_work() as uow:
        result = await service.login(
            uow.session,
            tokens=request.app[TOKENS],
            pii=runtime.pii,
            throttle=throttle,
            email=body.email,
            phone=body.phone,
            password=body.password,
            client=_client(request, body),
            now=runtime.clock.now(),
        )
    return signed_in_response(result)


@routes.post(
    "/api/v1/auth/2fa/verify",
    body=TwoFactorVerifyIn,
    response=SignedIn,
    auth=False,
    errors=frozenset({401, 403}),
)
async def verify_two_factor(request: web.Request, body: TwoFactorVerifyIn) -> SignedIn:
    """Finish a two-factor sign-in: the challenge and an authenticator or recovery code"""
    runtime = request.app[RUNTIME]
    throttle = twofactor.SecondFactorThrottle(
        request.app[RATE_LIMITER], rate=request.app[SETTINGS].two_factor_throttle
    )
    async with runtime.db.unit_of_work() as uow:
        return await twofactor.verify_sign_in(
            uow.session,
            runtime.pii,
            tokens=request.app[TOKENS],
            throttle=throttle,
            challenge=body.challenge,
            code=body.code,
            now=runtime.clock.now(),
        )


@routes.post(
    "/api/v1/auth/refresh",
    body=RefreshIn,
    response=TokenPair,
    auth=False,
    errors=frozenset({401, 403, 409}),
)
async def refresh(request: web.Request, body: RefreshIn) -> TokenPair:
    """Exchange a refresh token for a new token pair (the old refresh token is spent)"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        return await service.refresh(
            uow.session,
            tokens=request.app[TOKENS],
            refresh_token=body.refresh_token,
            now=runtime.clock.now(),
        )


@routes.post("/api/v1/auth/logout", status=204)
async def logout(request: web.Request) -> None:
    """End the current session"""
    runtime, principal = request.app[RUNTIME], request[PRINCIPAL]
    async with runtime.db.unit_of_work() as uow:
        await service.revoke_session(
            uow.session, session_id=principal.session_id, reason="logout", now=runtime.clock.now()
        )
    request.app[SESSION_GUARD].forget(principal.session_id)


@routes.get("/api/v1/auth/verify", response=TokenInfo)
async def verify(request: web.Request) -> TokenInfo:
    """Introspect the bearer token: whose it is and until when it is valid"""
    principal = request[PRINCIPAL]
    return TokenInfo(
        user_id=principal.user_id,
        session_id=principal.session_id,
        roles=sorted(principal.roles),
        expires_at=principal.expires_at,
    )


@routes.get("/.well-known/jwks.json", response=Jwks, auth=False)
async def jwks(request: web.Request) -> Jwks:
    """The public key that signs access tokens, as a JSON Web Key Set"""
    return Jwks.model_validate(request.app[TOKENS].jwks())
