"""Pending two-step sign-ins: opened when the first factor passed, spent once by the second.

Only a hash of the challenge token is stored; a challenge lives `CHALLENGE_SECONDS` and allows
`CHALLENGE_ATTEMPTS` wrong codes, then it is dead and the sign-in starts over.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.identity.auth import LoginChallenge, TotpSecret
from server.http.errors import Unauthorized
from server.identity.auth.schemas import TwoFactorChallenge

CHALLENGE_SECONDS = 300
CHALLENGE_ATTEMPTS = 5


class ChallengeInvalid(Unauthorized):
    code, message = (
        "auth.challenge_invalid",
        "This sign-in challenge is used, expired or out of attempts; sign in again.",
    )


@dataclass(frozen=True, slots=True)
class PendingSignIn:
    """A live challenge, locked for the caller's transaction."""

    id: int
    user_id: int
    client: dict[str, Any]


def hash_challenge(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def second_factor_enabled(session: AsyncSession, *, user_id: int) -> bool:
    """Whether signing in as this user needs a second factor (an enabled TOTP secret)."""
    enabled_at = await session.scalar(
        select(TotpSecret.enabled_at).where(TotpSecret.user_id == user_id)
    )
    return enabled_at is not None


async def open_challenge(
    session: AsyncSession, *, user_id: int, client: dict[str, Any], now: datetime
) -> TwoFactorChallenge:
    """Store a challenge for the second step of this sign-in and return its token once."""
    token = secrets.token_urlsafe(32)
    session.add(
        LoginChallenge(
            token_hash=hash_challenge(token),
            user_id=user_id,
            client=client,
            attempts=0,
            created_at=now,
            expires_at=now + timedelta(seconds=CHALLENGE_SECONDS),
        )
    )
    await session.flush()
    return TwoFactorChallenge(challenge=token, expires_in=CHALLENGE_SECONDS)


async def lock_challenge(session: AsyncSession, *, token: str, now: datetime) -> PendingSignIn:
    """The live challenge with this token, row-locked; 401 if used, expired or out of attempts."""
    row = (
        await session.execute(
            select(
                LoginChallenge.id,
                LoginChallenge.user_id,
                LoginChallenge.client,
                LoginChallenge.attempts,
                LoginChallenge.expires_at,
                LoginChallenge.used_at,
            )
            .where(LoginChallenge.token_hash == hash_challenge(token))
            .with_for_update()
        )
    ).one_or_none()
    if (
        row is None
        or row.used_at is not None
        or row.expires_at <= now
        or row.attempts >= CHALLENGE_ATTEMPTS
    ):
        raise ChallengeInvalid()
    return PendingSignIn(id=row.id, user_id=row.user_id, client=dict(row.client or {}))


async def count_failure(session: AsyncSession, *, challenge_id: int) -> None:
    """One more wrong code against the challenge."""
    await session.execute(
        update(LoginChallenge)
        .where(LoginChallenge.id == challenge_id)
        .values(attempts=LoginChallenge.attempts + 1)
    )


async def spend(session: AsyncSession, *, challenge_id: int, now: datetime) -> None:
    """The second factor passed: the challenge can never be used again."""
    await session.execute(
        update(LoginChallenge).where(LoginChallenge.id == challenge_id).values(used_at=now)
    )


async def purge_expired(session: AsyncSession, *, now: datetime) -> int:
    """Delete challenges that expired over a day ago (used or not); how many went."""
    result = await session.execute(
        delete(LoginChallenge).where(LoginChallenge.expires_at < now - timedelta(days=1))
    )
    return int(cast(CursorResult[Any], result).rowcount or 0)
