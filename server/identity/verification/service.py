"""Code sign-in, verifying an email or phone, and resetting and changing a password."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models.identity.users import User
from server.crypto import PiiCipher
from server.db import UnitOfWork
from server.http.errors import BadRequest, Conflict, Forbidden, ValidationFailed
from server.identity.auth import service as auth_service
from server.identity.auth.passwords import hash_password, verify_password
from server.identity.auth.schemas import SignedIn, TwoFactorChallenge
from server.identity.auth.tokens import TokenService
from server.identity.users import service as users_service
from server.identity.users.schemas import UserOut
from server.identity.verification.codes import (
    CodeInvalid,
    IssuedCode,
    Target,
    consume_code,
    issue_code,
)
from server.identity.verification.throttle import PasswordThrottle


class NoAddress(BadRequest):
    code, message = "verification.no_address", "This account has no such address; give one."


class AddressTaken(Conflict):
    code, message = "verification.address_taken", "Another account already uses this address."


class WrongPassword(Forbidden):
    code, message = "verification.wrong_password", "The current password is wrong."


async def own_address(
    session: AsyncSession, pii: PiiCipher, *, user_id: int, channel: str
) -> Target:
    """The signed-in user's own email or phone, for a verify_* code without an address."""
    if channel == "email":
        email = await session.scalar(select(User.email).where(User.id == user_id))
        if email is None:
            raise NoAddress()
        return Target("email", email)
    phone = await users_service.read_phone(session, pii, user_id=user_id)
    if phone is None:
        raise NoAddress()
    return Target("sms", phone)


async def start_code(
    session: AsyncSession,
    pii: PiiCipher,
    *,
    target: Target,
    purpose: str,
    user_id: int | None,
    now: datetime,
    ttl_seconds: int,
) -> IssuedCode | None:
    """Store a code for `target`; None for a reset asked for an address no account uses."""
    if user_id is None:
        user_id = await users_service.find_user_id(
            session, pii, email=target.email, phone=target.phone
        )
        if user_id is None and purpose == "reset_password":
            return None
    return await issue_code(
        session,
        pii,
        target=target,
        purpose=purpose,
        user_id=user_id,
        now=now,
        ttl_seconds=ttl_seconds,
    )


def _proved(target: Target, now: datetime) -> dict[str, Any]:
    """A code reached this address: it is verified, if it was not already."""
    column = User.email_verified_at if target.channel == "email" else User.phone_verified_at
    return {column.key: func.coalesce(column, now)}


async def sign_in_with_code(
    uow: UnitOfWork,
    *,
    tokens: TokenService,
    pii: PiiCipher,
    target: Target,
    code: str,
    client: auth_service.Client,
    now: datetime,
    max_attempts: int,
) -> SignedIn | TwoFactorChallenge:
    """Spend a login code; the first one for an unknown address creates its account.

    An account with two-factor authentication on gets a challenge, as after a password.
    """
    session = uow.session
    await consume_code(
        session, pii, target=target, purpose="login", code=code, now=now, max_attempts=max_attempts
    )
    user_id = await users_service.find_user_id(session, pii, email=target.email, phone=target.phone)
    if user_id is None:
        user_id = await auth_service.create_user(
            session,
            pii,
            email=target.email,
            phone=target.phone,
            password=None,
            nickname=None,
            verified=True,
            now=now,
        )
        auth_service.welcome_new_user(uow, user_id=user_id)
    else:
        await session.execute(update(User).where(User.id == user_id).values(**_proved(target, now)))
    return await auth_service.complete_sign_in(
        session, tokens=tokens, user_id=user_id, client=client, now=now
    )


async def reset_password(
    session: AsyncSession,
    *,
    pii: PiiCipher,
    target: Target,
    code: str,
    new_password: str,
    now: datetime,
    max_attempts: int,
) -> list[int]:
    """Spend a reset code, set the new password and end every session; returns their ids."""
    await consume_code(
        session,
        pii,
        target=target,
        purpose="reset_password",
        code=code,
        now=now,
        max_attempts=max_attempts,
    )
    user_id = await users_service.find_user_id(session, pii, email=target.email, phone=target.phone)
    if user_id is None:  # the account was erased since the code was sent
        raise CodeInvalid()
    password_hash = await hash_password(new_password)
    await session.execute(
        update(User)
        .where(User.id == user_id)
        .values(
            password_hash=password_hash,
            password_changed_at=now,
            updated_at=now,
            **_proved(target, now),
        )
    )
    return await auth_service.revoke_user_sessions(
        session, user_id=user_id, reason="password_reset", now=now
    )


async def change_password(
    session: AsyncSession,
    *,
    throttle: PasswordThrottle,
    user_id: int,
    session_id: int,
    current_password: str | None,
    new_password: str,
    now: datetime,
) -> list[int]:
    """Check the current password (if the account has one), set the new one, and end every
    other session; returns the ids it ended."""
    current_hash = await session.scalar(
        select(User.password_hash).where(User.id == user_id).with_for_update()
    )
    if current_hash is not None:
        if current_password is None:
            raise ValidationFailed(fields={"current_password": "Give the current password."})
        await throttle.check(user_id=user_id)
        if not await verify_password(current_hash, current_password):
            await throttle.failed(user_id=user_id)
            raise WrongPassword()
    await session.execute(
        update(User)
        .where(User.id == user_id)
        .values(
            password_hash=await hash_password(new_password),
            password_changed_at=now,
            updated_at=now,
        )
    )
    return await auth_service.revoke_user_sessions(
        session, user_id=user_id, reason="password_changed", now=now, keep=session_id
    )


async def verify_address(
    session: AsyncSession,
    *,
    pii: PiiCipher,
    user_id: int,
    channel: str,
    address: str | None,
    code: str,
    now: datetime,
    max_attempts: int,
) -> UserOut:
    """Spend a verify_email / verify_phone code: mark the account's address verified, or bind
    the new one it was sent to (409 if another account uses it)."""
    own = await own_address(session, pii, user_id=user_id, channel=channel) if not address else None
    target = own or Target("email" if channel == "email" else "sms", address or "")
    purpose = "verify_email" if channel == "email" else "verify_phone"
    await consume_code(
        session,
        pii,
        target=target,
        purpose=purpose,
        code=code,
        now=now,
        max_attempts=max_attempts,
        user_id=user_id,
    )
    values: dict[str, Any] = {"updated_at": now}
    if channel == "email":
        values |= {"email": target.address, "email_verified_at": now}
    else:
        values |= {**users_service.phone_columns(pii, target.address), "phone_verified_at": now}
    holder = await users_service.find_user_id(session, pii, email=target.email, phone=target.phone)
    if holder not in (None, user_id):
        raise AddressTaken()
    try:
        await session.execute(update(User).where(User.id == user_id).values(**values))
    except IntegrityError as exc:  # bound by another account at the same moment
        raise AddressTaken() from exc
    return await users_service.get_profile(session, user_id=user_id)
