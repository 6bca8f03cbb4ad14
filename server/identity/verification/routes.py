"""Verification codes by email and SMS, code sign-in, password reset and change."""

from __future__ import annotations

from aiohttp import web

from server.http.limits import client_ip
from server.http.registry import RouteTable
from server.identity.auth.responses import SIGN_IN_DESCRIPTION, SignInResult, signed_in_response
from server.identity.auth.schemas import Credentials
from server.identity.auth.service import Client
from server.identity.users.schemas import UserOut
from server.identity.verification import service
from server.identity.verification.codes import Target, kill_code, target_hash
from server.identity.verification.delivery import (
    SendFailed,
    code_message,
    deliver,
    no_account_message,
)
from server.identity.verification.schemas import (
    SIGNED_IN_PURPOSES,
    Address,
    CodeLoginIn,
    CodeRequest,
    CodeSent,
    EmailVerifyIn,
    PasswordChangeIn,
    PasswordResetIn,
    PhoneVerifyIn,
)
from server.identity.verification.throttle import PasswordThrottle, SendThrottle
from server.keys import (
    PRINCIPAL,
    RATE_LIMITER,
    RUNTIME,
    SESSION_GUARD,
    SETTINGS,
    TOKENS,
    USER_ID,
)

routes = RouteTable(
    "verification", "Verification codes by email and SMS, code sign-in, password reset and change."
)


def _client(request: web.Request, body: Credentials) -> Client:
    return Client(
        ip=client_ip(request, request.app[SETTINGS].trust_forwarded_for),
        user_agent=request.headers.get("User-Agent"),
        device_name=body.device_name,
        platform=body.platform,
    )


async def _send_code(
    request: web.Request, *, target: Target, purpose: str, user_id: int | None
) -> CodeSent:
    """Throttle, store the code, then send it; a failed send kills the code (503)."""
    runtime, settings = request.app[RUNTIME], request.app[SETTINGS]
    throttle = SendThrottle(
        request.app[RATE_LIMITER],
        per_target=settings.verification_sends_per_target,
        per_ip=settings.verification_sends_per_ip,
    )
    resend_after = await throttle.sending(
        target_key=target_hash(runtime.pii, target)[:32],
        ip=client_ip(request, settings.trust_forwarded_for),
    )
    ttl = settings.verification_code_seconds
    async with runtime.db.unit_of_work() as uow:
        issued = await service.start_code(
            uow.session,
            runtime.pii,
            target=target,
            purpose=purpose,
            user_id=user_id,
            now=runtime.clock.now(),
            ttl_seconds=ttl,
        )
    if issued is None:
        message = no_account_message()
    else:
        message = code_message(purpose=purpose, code=issued.code, ttl_seconds=ttl)
    try:
        await deliver(settings, target=target, message=message)
    except SendFailed:
        if issued is not None:
            async with runtime.db.unit_of_work() as uow:
                await kill_code(uow.session, code_id=issued.id, now=runtime.clock.now())
        raise
    return CodeSent(sent_to=target.masked, expires_in=ttl, resend_after=resend_after)


@routes.post(
    "/api/v1/auth/codes",
    body=CodeRequest,
    response=CodeSent,
    status=202,
    auth=False,
    errors=frozenset({401, 403}),
)
async def send_code(request: web.Request, body: CodeRequest) -> CodeSent:
    """Send a one-time code by email or SMS (verify_* purposes need a bearer token)"""
    user_id: int | None = None
    if body.purpose in SIGNED_IN_PURPOSES:
        user_id = await request.app[SESSION_GUARD](request)
        request.app[RATE_LIMITER].check_account(user_id)
    if body.email is None and body.phone is None:
        runtime = request.app[RUNTIME]
        channel = "email" if body.purpose == "verify_email" else "sms"
        async with runtime.db.read() as session:
            target = await service.own_address(
                session, runtime.pii, user_id=user_id or 0, channel=channel
            )
    else:
        target = Target.of(email=body.email, phone=body.phone)
    return await _send_code(request, target=target, purpose=body.purpose, user_id=user_id)


@routes.post(
    "/api/v1/auth/password/forgot", body=Address, response=CodeSent, status=202, auth=False
)
async def forgot_password(request: web.Request, body: Address) -> CodeSent:
    """Send a password-reset code (answered alike whether an account uses the address or not)"""
    target = Target.of(email=body.email, phone=body.phone)
    return await _send_code(request, target=target, purpose="reset_password", user_id=None)


@routes.post(
    "/api/v1/auth/login/code",
    body=CodeLoginIn,
    response=SignInResult,
    auth=False,
    errors=frozenset({403, 409}),
    description=SIGN_IN_DESCRIPTION,
)
async def login_with_code(request: web.Request, body: CodeLoginIn) -> web.Response:
    """Sign in with a login code; the first sign-in of an unknown address creates its account"""
    runtime, settings = request.app[RUNTIME], request.app[SETTINGS]
    async with runtime.db.unit_of_work() as uow:
        result = await service.sign_in_with_code(
            uow,
            tokens=request.app[TOKENS],
            pii=runtime.pii,
            target=Target.of(email=body.email, phone=body.phone),
            code=body.code,
            client=_client(request, body),
            now=runtime.clock.now(),
            max_attempts=settings.verification_max_attempts,
        )
    return signed_in_response(result)


@routes.post("/api/v1/auth/password/reset", body=PasswordResetIn, status=204, auth=False)
async def reset_password(request: web.Request, body: PasswordResetIn) -> None:
    """Set a new password with a reset code; every session of the account ends"""
    runtime, settings = request.app[RUNTIME], request.app[SETTINGS]
    async with runtime.db.unit_of_work() as uow:
        ended = await service.reset_password(
            uow.session,
            pii=runtime.pii,
            target=Target.of(email=body.email, phone=body.phone),
            code=body.code,
            new_password=body.new_password,
            now=runtime.clock.now(),
            max_attempts=settings.verification_max_attempts,
        )
    request.app[SESSION_GUARD].forget(*ended)


@routes.post("/api/v1/me/password", body=PasswordChangeIn, status=204, errors=frozenset({403}))
async def change_password(request: web.Request, body: PasswordChangeIn) -> None:
    """Change the password; every other session of the account ends"""
    runtime, settings = request.app[RUNTIME], request.app[SETTINGS]
    throttle = PasswordThrottle(request.app[RATE_LIMITER], rate=settings.login_throttle_account)
    async with runtime.db.unit_of_work() as uow:
        ended = await service.change_password(
            uow.session,
            throttle=throttle,
            user_id=request[USER_ID],
            session_id=request[PRINCIPAL].session_id,
            current_password=body.current_password,
            new_password=body.new_password,
            now=runtime.clock.now(),
        )
    request.app[SESSION_GUARD].forget(*ended)


@routes.post(
    "/api/v1/me/email/verify", body=EmailVerifyIn, response=UserOut, errors=frozenset({409})
)
async def verify_email(request: web.Request, body: EmailVerifyIn) -> UserOut:
    """Confirm the account's email, or bind the new one, with a verify_email code"""
    return await _verify(request, channel="email", address=body.email, code=body.code)


@routes.post(
    "/api/v1/me/phone/verify", body=PhoneVerifyIn, response=UserOut, errors=frozenset({409})
)
async def verify_phone(request: web.Request, body: PhoneVerifyIn) -> UserOut:
    """Confirm the account's phone, or bind the new one, with a verify_phone code"""
    return await _verify(request, channel="sms", address=body.phone, code=body.code)


async def _verify(request: web.Request, *, channel: str, address: str | None, code: str) -> UserOut:
    runtime, settings = request.app[RUNTIME], request.app[SETTINGS]
    async with runtime.db.unit_of_work() as uow:
        return await service.verify_address(
            uow.session,
            pii=runtime.pii,
            user_id=request[USER_ID],
            channel=channel,
            address=address,
            code=code,
            now=runtime.clock.now(),
            max_attempts=settings.verification_max_attempts,
        )
