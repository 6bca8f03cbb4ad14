"""One-time codes: made from `secrets`, stored only as a keyed hash, checked once.

A code row names its target (an email or a phone) only by a keyed lookup hash, and keeps the
code as an HMAC under a server key over (target hash, purpose, code): a copy of the table is no
way to read or brute-force codes offline, and a hash is valid for its own address and purpose
only. A new code supersedes every unused one of the same target and purpose; a code dies when
it is used, when it expires, or after `max_attempts` wrong guesses.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.identity.verification import VerificationCode
from server.crypto import PiiCipher, same_secret
from server.db import KeepsChanges
from server.http.errors import BadRequest
from server.identity.users.schemas import mask_phone

CODE_DIGITS = 6


class CodeInvalid(KeepsChanges, BadRequest):
    # Wrong, expired, used or dead codes answer alike; a wrong guess is counted (kept) first.
    code, message = "verification.code_invalid", "This code is wrong or no longer valid."


@dataclass(frozen=True, slots=True)
class Target:
    """Where a code goes: a normalised email or an E.164 phone number."""

    channel: Literal["email", "sms"]
    address: str

    @classmethod
    def of(cls, *, email: str | None, phone: str | None) -> Target:
        if email is not None:
            return cls("email", email)
        if phone is None:
            raise ValueError("a target needs an email or a phone")
        return cls("sms", phone)

    @property
    def email(self) -> str | None:
        return self.address if self.channel == "email" else None

    @property
    def phone(self) -> str | None:
        return self.address if self.channel == "sms" else None

    @property
    def masked(self) -> str:
        """Enough to recognise the address, not to use it."""
        if self.channel == "sms":
            return mask_phone(self.address) or ""
        local, _, domain = self.address.partition("@")
        return f"{local[0]}{'*' * max(3, len(local) - 1)}@{domain}"


def target_hash(pii: PiiCipher, target: Target) -> str:
    return pii.lookup_hash(target.address, context=f"verification.{target.channel}")


def code_hash(pii: PiiCipher, *, target_hash: str, purpose: str, code: str) -> str:
    key = pii.derive_key("verification-code")
    message = f"{target_hash}\x00{purpose}\x00{code}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


@dataclass(frozen=True, slots=True)
class IssuedCode:
    """A code just stored: its row, and the code itself, which exists only in memory."""

    id: int
    code: str


async def issue_code(
    session: AsyncSession,
    pii: PiiCipher,
    *,
    target: Target,
    purpose: str,
    user_id: int | None,
    now: datetime,
    ttl_seconds: int,
) -> IssuedCode:
    """Store a fresh code for `target` and `purpose`, superseding the unused ones."""
    hashed_target = target_hash(pii, target)
    await session.execute(
        update(VerificationCode)
        .where(
            VerificationCode.target_hash == hashed_target,
            VerificationCode.purpose == purpose,
            VerificationCode.used_at.is_(None),
        )
        .values(used_at=now)
    )
    code = new_code()
    row = VerificationCode(
        purpose=purpose,
        channel=target.channel,
        target_hash=hashed_target,
        code_hash=code_hash(pii, target_hash=hashed_target, purpose=purpose, code=code),
        user_id=user_id,
        attempts=0,
        created_at=now,
        expires_at=now + timedelta(seconds=ttl_seconds),
    )
    session.add(row)
    await session.flush()
    return IssuedCode(row.id, code)


async def kill_code(session: AsyncSession, *, code_id: int, now: datetime) -> None:
    """Make a code unusable (it could not be delivered)."""
    await session.execute(
        update(VerificationCode)
        .where(VerificationCode.id == code_id, VerificationCode.used_at.is_(None))
        .values(used_at=now)
    )


async def consume_code(
    session: AsyncSession,
    pii: PiiCipher,
    *,
    target: Target,
    purpose: str,
    code: str,
    now: datetime,
    max_attempts: int,
    user_id: int | None = None,
) -> None:
    """Spend the live code of `target` for `purpose`, or raise CodeInvalid.

    Call it first in a unit of work: a wrong guess is counted and committed even though the
    error propagates. `user_id` binds the check to the account that asked for the code.
    """
    hashed_target = target_hash(pii, target)
    query = (
        select(VerificationCode.id, VerificationCode.code_hash, VerificationCode.attempts)
        .where(
            VerificationCode.target_hash == hashed_target,
            VerificationCode.purpose == purpose,
            VerificationCode.used_at.is_(None),
            VerificationCode.expires_at > now,
        )
        .order_by(VerificationCode.id.desc())
        .limit(1)
        .with_for_update()
    )
    if user_id is not None:
        query = query.where(VerificationCode.user_id == user_id)
    row = (await session.execute(query)).one_or_none()
    if row is None:
        raise CodeInvalid()
    expected = code_hash(pii, target_hash=hashed_target, purpose=purpose, code=code)
    if row.attempts >= max_attempts or not same_secret(expected, row.code_hash):
        values: dict[str, Any] = {"attempts": VerificationCode.attempts + 1}
        if row.attempts + 1 >= max_attempts:
            values["used_at"] = now  # that was the last guess this code allowed
        await session.execute(
            update(VerificationCode).where(VerificationCode.id == row.id).values(**values)
        )
        raise CodeInvalid()
    # The row lock serialises checks on MariaDB; this claim does it where there is no lock.
    claimed = cast(
        CursorResult[Any],
        await session.execute(
            update(VerificationCode)
            .where(VerificationCode.id == row.id, VerificationCode.used_at.is_(None))
            .values(used_at=now)
        ),
    )
    if claimed.rowcount != 1:
        raise CodeInvalid()


async def purge_expired(session: AsyncSession, *, now: datetime) -> int:
    """Delete codes that expired over a day ago (used or not); how many went."""
    result = await session.execute(
        delete(VerificationCode).where(VerificationCode.expires_at < now - timedelta(days=1))
    )
    return int(cast(CursorResult[Any], result).rowcount or 0)
