"""Two-factor authentication: TOTP secrets (RFC 6238), recovery codes, and the second step.

A code is accepted in the current 30 s step or the one before or after, and a step is accepted
at most once per account (`last_step`, claimed by an atomic UPDATE), so a code seen over a
shoulder or in a log cannot be replayed. Recovery codes are stored as keyed hashes and spent
by an atomic UPDATE too. Wrong codes are throttled per account across challenges.
"""

from __future__ import annotations

import contextlib
import io
import secrets
from datetime import datetime
from typing import Any, Literal, cast

import pyotp
import segno
from sqlalchemy import CursorResult, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.identity.auth import RecoveryCode, TotpSecret
from models.identity.users import User
from server.crypto import PiiCipher, same_secret
from server.db import KeepsChanges
from server.http.errors import Conflict, Forbidden, RateLimited, Unauthorized
from server.http.ratelimit import RateLimiter
from server.identity.auth import challenges
from server.identity.auth import service as auth_service
from server.identity.auth.schemas import SignedIn
from server.identity.auth.tokens import TokenService

SECRET_CONTEXT = "security.totp_secret"
RECOVERY_CONTEXT = "security.recovery_code"
RECOVERY_CODES = 10
# No 0/o, 1/l/i: recovery codes are read off paper.
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"

Method = Literal["totp", "recovery_code"]


class SecondFactorInvalid(KeepsChanges, Unauthorized):
    """A wrong code at sign-in; the failed attempt is kept (the unit of work commits it)."""

    code, message = "auth.two_factor_invalid", "The authentication code is wrong."


class CodeRejected(Forbidden):
    """A wrong code from a signed-in user (403, not 401: the session itself is fine)."""

    code, message = "auth.two_factor_invalid", "The authentication code is wrong."


class AlreadyEnabled(Conflict):
    code, message = "auth.two_factor_enabled", "Two-factor authentication is already on."


class NotEnabled(Conflict):
    code, message = "auth.two_factor_not_enabled", "Two-factor authentication is off."


class NotSetUp(Conflict):
    code, message = "auth.two_factor_not_set_up", "Start with POST /api/v1/me/2fa/totp/setup."


class SecondFactorThrottle:
    """Wrong second-factor codes per account, whatever the challenge or session (fails closed)."""

    def __init__(self, limiter: RateLimiter, *, rate: str) -> None:
        self._limiter = limiter
        self._rate = rate

    async def check(self, *, user_id: int) -> None:
        await self._limiter.check_throttle(self._rate, "2fa:user", str(user_id))

    async def failed(self, *, user_id: int) -> None:
        # Past the limit already (a concurrent failure): the next check answers 429.
        with contextlib.suppress(RateLimited):
            await self._limiter.throttle(self._rate, "2fa:user", str(user_id))

    async def succeeded(self, *, user_id: int) -> None:
        await self._limiter.reset_throttle(self._rate, "2fa:user", str(user_id))


def _normalise(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=6, interval=30)


def recovery_hash(pii: PiiCipher, code: str) -> str:
    return pii.lookup_hash(_normalise(code), context=RECOVERY_CONTEXT)


def new_recovery_code() -> str:
    chars = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
    return f"{chars[:5]}-{chars[5:]}"


def qr_svg(uri: str) -> str:
    """The otpauth URI as a standalone SVG QR code."""
    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", scale=4, xmldecl=False, nl=False)
    return out.getvalue().decode()


async def _secret_row(session: AsyncSession, *, user_id: int, lock: bool = False) -> Any:
    query = select(TotpSecret.secret_enc, TotpSecret.enabled_at).where(
        TotpSecret.user_id == user_id
    )
    return (await session.execute(query.with_for_update() if lock else query)).one_or_none()


async def set_up_totp(
    session: AsyncSession, pii: PiiCipher, *, user_id: int, issuer: str, now: datetime
) -> dict[str, str]:
    """A fresh pending secret (replacing a pending one); 409 if two-factor is already on."""
    row = await _secret_row(session, user_id=user_id, lock=True)
    if row is not None and row.enabled_at is not None:
        raise AlreadyEnabled()
    secret = pyotp.random_base32()
    values = {"secret_enc": pii.encrypt(secret, context=SECRET_CONTEXT), "created_at": now}
    if row is None:
        await session.execute(insert(TotpSecret).values(user_id=user_id, **values))
    else:
        await session.execute(
            update(TotpSecret).where(TotpSecret.user_id == user_id).values(**values, last_step=None)
        )
    account = (
        await session.execute(
            select(User.email, User.phone_masked, User.nickname).where(User.id == user_id)
        )
    ).one()
    label = account.email or account.phone_masked or account.nickname
    uri = _totp(secret).provisioning_uri(name=label, issuer_name=issuer)
    return {"secret": secret, "otpauth_uri": uri, "qr_svg": qr_svg(uri)}


async def _accept_totp(
    session: AsyncSession,
    pii: PiiCipher,
    *,
    user_id: int,
    secret_enc: str,
    code: str,
    now: datetime,
) -> bool:
    """Accept a code of the current step or a neighbour, once: later steps only."""
    totp = _totp(pii.decrypt(secret_enc, context=SECRET_CONTEXT))
    current = totp.timecode(now)
    for step in (current - 1, current, current + 1):
        if same_secret(code, totp.generate_otp(step)):
            claimed = await session.execute(
                update(TotpSecret)
                .where(
                    TotpSecret.user_id == user_id,
                    or_(TotpSecret.last_step.is_(None), TotpSecret.last_step < step),
                )
                .values(last_step=step)
            )
            return cast(CursorResult[Any], claimed).rowcount == 1
    return False


async def _spend_recovery_code(
    session: AsyncSession, pii: PiiCipher, *, user_id: int, code: str, now: datetime
) -> bool:
    spent = await session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user_id,
            RecoveryCode.code_hash == recovery_hash(pii, code),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=now)
    )
    return cast(CursorResult[Any], spent).rowcount == 1


async def prove_second_factor(
    session: AsyncSession, pii: PiiCipher, *, user_id: int, code: str, now: datetime
) -> Method | None:
    """Check an enabled user's TOTP or recovery code, spending it; which one passed, or None."""
    row = await _secret_row(session, user_id=user_id)
    if row is None or row.enabled_at is None:
        return None
    code = _normalise(code)
    if len(code) == 6 and code.isdigit():
        accepted = await _accept_totp(
            session, pii, user_id=user_id, secret_enc=row.secret_enc, code=code, now=now
        )
        return "totp" if accepted else None
    if await _spend_recovery_code(session, pii, user_id=user_id, code=code, now=now):
        return "recovery_code"
    return None


async def _replace_recovery_codes(
    session: AsyncSession, pii: PiiCipher, *, user_id: int, now: datetime
) -> list[str]:
    codes = [new_recovery_code() for _ in range(RECOVERY_CODES)]
    await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    await session.execute(
        insert(RecoveryCode),
        [
            {"user_id": user_id, "code_hash": recovery_hash(pii, code), "created_at": now}
            for code in codes
        ],
    )
    return codes


async def enable_totp(
    session: AsyncSession,
    pii: PiiCipher,
    *,
    throttle: SecondFactorThrottle,
    user_id: int,
    code: str,
    now: datetime,
) -> list[str]:
    """Turn two-factor on with a first code from the pending secret; the new recovery codes."""
    row = await _secret_row(session, user_id=user_id, lock=True)
    if row is None:
        raise NotSetUp()
    if row.enabled_at is not None:
        raise AlreadyEnabled()
    await throttle.check(user_id=user_id)
    code = _normalise(code)
    if not (
        len(code) == 6
        and code.isdigit()
        and await _accept_totp(
            session, pii, user_id=user_id, secret_enc=row.secret_enc, code=code, now=now
        )
    ):
        await throttle.failed(user_id=user_id)
        raise CodeRejected()
    await throttle.succeeded(user_id=user_id)
    await session.execute(
        update(TotpSecret).where(TotpSecret.user_id == user_id).values(enabled_at=now)
    )
    return await _replace_recovery_codes(session, pii, user_id=user_id, now=now)


async def _require_proof(
    session: AsyncSession,
    pii: PiiCipher,
    *,
    throttle: SecondFactorThrottle,
    user_id: int,
    code: str,
    now: datetime,
) -> None:
    row = await _secret_row(session, user_id=user_id, lock=True)
    if row is None or row.enabled_at is None:
        raise NotEnabled()
    await throttle.check(user_id=user_id)
    if await prove_second_factor(session, pii, user_id=user_id, code=code, now=now) is None:
        await throttle.failed(user_id=user_id)
        raise CodeRejected()
    await throttle.succeeded(user_id=user_id)


async def disable_totp(
    session: AsyncSession,
    pii: PiiCipher,
    *,
    throttle: SecondFactorThrottle,
    user_id: int,
    code: str,
    now: datetime,
) -> None:
    """Turn two-factor off with a TOTP or recovery code: secret and recovery codes go."""
    await _require_proof(session, pii, throttle=throttle, user_id=user_id, code=code, now=now)
    await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    await session.execute(delete(TotpSecret).where(TotpSecret.user_id == user_id))


async def regenerate_recovery_codes(
    session: AsyncSession,
    pii: PiiCipher,
    *,
    throttle: SecondFactorThrottle,
    user_id: int,
    code: str,
    now: datetime,
) -> list[str]:
    """Ten new recovery codes for a TOTP or recovery code; the old ones stop working."""
    await _require_proof(session, pii, throttle=throttle, user_id=user_id, code=code, now=now)
    return await _replace_recovery_codes(session, pii, user_id=user_id, now=now)


async def status(session: AsyncSession, *, user_id: int) -> tuple[bool, int]:
    """(whether two-factor is on, how many unused recovery codes are left)."""
    enabled = await challenges.second_factor_enabled(session, user_id=user_id)
    left = await session.scalar(
        select(func.count()).where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
    )
    return enabled, int(left or 0)


async def verify_sign_in(
    session: AsyncSession,
    pii: PiiCipher,
    *,
    tokens: TokenService,
    throttle: SecondFactorThrottle,
    challenge: str,
    code: str,
    now: datetime,
) -> SignedIn:
    """The second step of a sign-in: spend the challenge with a code and open the session."""
    pending = await challenges.lock_challenge(session, token=challenge, now=now)
    await throttle.check(user_id=pending.user_id)
    method = await prove_second_factor(session, pii, user_id=pending.user_id, code=code, now=now)
    if method is None:
        await challenges.count_failure(session, challenge_id=pending.id)
        await throttle.failed(user_id=pending.user_id)
        raise SecondFactorInvalid()
    await throttle.succeeded(user_id=pending.user_id)
    await challenges.spend(session, challenge_id=pending.id, now=now)
    result = await auth_service.complete_sign_in(
        session,
        tokens=tokens,
        user_id=pending.user_id,
        client=auth_service.Client(**pending.client),
        now=now,
        second_factor_passed=True,
    )
    return cast(SignedIn, result)
