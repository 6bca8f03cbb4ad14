"""Accounts, sign-in, sessions and refresh-token rotation."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models.identity.auth import Device
from models.identity.sessions import AuthSession, RefreshToken
from models.identity.users import User
from server.crypto import PiiCipher
from server.db import KeepsChanges, UnitOfWork
from server.http.errors import Conflict, Forbidden, Unauthorized
from server.identity.auth import challenges
from server.identity.auth.passwords import hash_password, needs_rehash, verify_password
from server.identity.auth.schemas import SignedIn, TokenPair, TwoFactorChallenge
from server.identity.auth.throttle import LoginThrottle
from server.identity.auth.tokens import TokenService, hash_refresh_token, new_refresh_token
from server.identity.users import service as users_service
from server.identity.users.text import clean_nickname
from server.screening import words

DEFAULT_ROLES = ["reader"]


class AccountExists(Conflict):
    code, message = "auth.account_exists", "An account with this email or phone already exists."


class InvalidCredentials(Unauthorized):
    code, message = "auth.invalid_credentials", "The account or password is wrong."


class AccountDisabled(Forbidden):
    code, message = "auth.account_disabled", "This account is disabled."


class InvalidRefresh(Unauthorized):
    code, message = "auth.invalid_refresh", "The refresh token is invalid or has expired."


class RefreshReused(KeepsChanges, Unauthorized):
    code, message = "auth.refresh_reused", "This refresh token was already used; sign in again."


class RefreshConflict(Conflict):
    code, message = "auth.refresh_conflict", "This refresh token was just used by another request."


@dataclass(frozen=True, slots=True)
class Client:
    """Where a session was opened from."""

    ip: str | None = None
    user_agent: str | None = None
    device_name: str | None = None
    platform: str | None = None


async def create_user(
    session: AsyncSession,
    pii: PiiCipher,
    *,
    email: str | None,
    phone: str | None,
    password: str | None,
    nickname: str | None,
    roles: list[str] | None = None,
    verified: bool = False,
    now: datetime | None = None,
) -> int:
    """Insert an account (email and phone already normalised); 409 if either is taken.

    `password=None` makes an account that signs in by code or OAuth only; `verified` marks the
    given email or phone as proven (a code was just checked, or the provider vouched for it).
    """
    taken = email is not None and await users_service.find_user_id(session, pii, email=email)
    if taken or (phone is not None and await users_service.find_user_id(session, pii, phone=phone)):
        raise AccountExists()
    values: dict[str, Any] = {
        "email": email,
        **users_service.phone_columns(pii, phone),
        "password_hash": None if password is None else await hash_password(password),
        "nickname": nickname or default_nickname(email, phone),
        "roles": list(roles or DEFAULT_ROLES),
    }
    if verified and now is not None:
        values["email_verified_at" if email is not None else "phone_verified_at"] = now
    user = User(**values)
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent sign-up with the same email or phone
        raise AccountExists() from exc
    return user.id


def default_nickname(email: str | None, phone: str | None) -> str:
    """The email's local part or the phone's last four digits, until the user picks one."""
    # An email's local part may hold any character but '@' and spaces, invisible ones too.
    local = clean_nickname(email.split("@", 1)[0])[:32].strip() if email else ""
    return local or f"user{(phone or '')[-4:]}"


async def register(
    uow: UnitOfWork,
    *,
    tokens: TokenService,
    pii: PiiCipher,
    email: str | None,
    phone: str | None,
    password: str,
    nickname: str | None,
    client: Client,
    now: datetime,
    word_list: words.WordList,
) -> SignedIn:
    """Create a reader account, sign it in, and queue its welcome notification."""
    if nickname is not None:
        users_service.screen_nickname(nickname, word_list=word_list)
    session = uow.session
    user_id = await create_user(
        session, pii, email=email, phone=phone, password=password, nickname=nickname
    )
    welcome_new_user(uow, user_id=user_id)
    # A brand-new account has no second factor, so this always opens a session.
    signed_in = await complete_sign_in(
        session, tokens=tokens, user_id=user_id, client=client, now=now
    )
    return cast(SignedIn, signed_in)


def welcome_new_user(uow: UnitOfWork, *, user_id: int) -> None:
    """What every new account gets, however it was created: the welcome notification."""
    uow.outbox.enqueue("notifications.welcome", job_id=f"welcome:{user_id}", user_id=user_id)


async def login(
    session: AsyncSession,
    *,
    tokens: TokenService,
    pii: PiiCipher,
    throttle: LoginThrottle,
    email: str | None,
    phone: str | None,
    password: str,
    client: Client,
    now: datetime,
) -> SignedIn | TwoFactorChallenge:
    """Check the password and open a session (or, with two-factor on, a challenge).

    Unknown account and wrong password answer alike, after an argon2 verification either way;
    a disabled account is told so only after its correct password.
    """
    identifier = email or phone or ""
    await throttle.check(identifier=identifier, ip=client.ip or "unknown")
    clause = users_service.identifier_clause(pii, email=email, phone=phone)
    row = (await session.execute(select(User.id, User.password_hash).where(clause))).one_or_none()
    verified = await verify_password(row.password_hash if row else None, password)
    if row is None or not verified:
        await throttle.failed(identifier=identifier, ip=client.ip or "unknown")
        raise InvalidCredentials()
    await throttle.succeeded(identifier=identifier)
    if needs_rehash(row.password_hash):
        new_hash = await hash_password(password)
        await session.execute(update(User).where(User.id == row.id).values(password_hash=new_hash))
    return await complete_sign_in(session, tokens=tokens, user_id=row.id, client=client, now=now)


async def complete_sign_in(
    session: AsyncSession,
    *,
    tokens: TokenService,
    user_id: int,
    client: Client,
    now: datetime,
    second_factor_passed: bool = False,
) -> SignedIn | TwoFactorChallenge:
    """The last step of every sign-in (password, code, OAuth), once the first factor passed.

    Refuses banned and deleted accounts; reopens a deactivated one within its grace period.
    An account with two-factor authentication gets no session yet: a challenge instead, which
    POST /api/v1/auth/2fa/verify spends (and then calls this with `second_factor_passed`).
    Routes render the result with `server.identity.auth.responses.signed_in_response` (200 or 202).
    """
    row = (
        await session.execute(
            select(User.status, User.roles, User.deactivated_at)
            .where(User.id == user_id)
            .with_for_update()
        )
    ).one_or_none()
    if row is None:
        raise InvalidCredentials()
    reopens = row.status == "deactivated" and _within_grace(row.deactivated_at, tokens, now)
    if row.status != "active" and not reopens:
        raise AccountDisabled()
    if not second_factor_passed and await challenges.second_factor_enabled(
        session, user_id=user_id
    ):
        # Nothing changes (not even a reactivation) before the second factor passes.
        return await challenges.open_challenge(
            session, user_id=user_id, client=asdict(client), now=now
        )
    if reopens:
        await session.execute(
            update(User)
            .where(User.id == user_id)
            .values(status="active", deactivated_at=None, updated_at=now)
        )
    pair = await start_session(
        session, tokens=tokens, user_id=user_id, roles=list(row.roles), client=client, now=now
    )
    user = await users_service.get_profile(session, user_id=user_id)
    return SignedIn(**pair.model_dump(), user=user)


def _within_grace(deactivated_at: datetime | None, tokens: TokenService, now: datetime) -> bool:
    if deactivated_at is None:
        return False
    return now - deactivated_at < timedelta(days=tokens.reactivation_grace_days)


async def start_session(
    session: AsyncSession,
    *,
    tokens: TokenService,
    user_id: int,
    roles: list[str],
    client: Client,
    now: datetime,
) -> TokenPair:
    """Open a session for the user and issue its first token pair."""
    auth_session = AuthSession(
        user_id=user_id,
        device_name=client.device_name,
        platform=client.platform,
        ip=client.ip,
        user_agent=(client.user_agent or "")[:255] or None,
        created_at=now,
        last_seen_at=now,
    )
    session.add(auth_session)
    await session.flush()
    session_id = auth_session.id
    refresh = await _issue_refresh(
        session, tokens=tokens, session_id=session_id, parent_id=None, now=now
    )
    return _pair(
        tokens, user_id=user_id, session_id=session_id, roles=roles, refresh=refresh, now=now
    )


async def refresh(
    session: AsyncSession, *, tokens: TokenService, refresh_token: str, now: datetime
) -> TokenPair:
    """Spend a refresh token for a new pair in the same session.

    The token is claimed first with an atomic `UPDATE ... WHERE used_at IS NULL`, so of two
    concurrent refreshes of one token exactly one wins. A token that is already spent is
    classified: spent within `refresh_grace_seconds` -> 409 `auth.refresh_conflict`, nothing
    revoked (a client racing itself, e.g. two tabs); spent earlier -> a superseded token came
    back, so the session and all its tokens are revoked -> 401 `auth.refresh_reused`.
    Unknown, expired or revoked-session tokens -> 401 `auth.invalid_refresh`.
    """
    token_hash = hash_refresh_token(refresh_token)
    claim = update(RefreshToken).where(
        RefreshToken.token_hash == token_hash,
        RefreshToken.used_at.is_(None),
        RefreshToken.expires_at > now,
    )
    claimed = cast(CursorResult[Any], await session.execute(claim.values(used_at=now)))
    query = (
        select(
            RefreshToken.id,
            RefreshToken.session_id,
            RefreshToken.expires_at,
            RefreshToken.used_at,
            AuthSession.user_id,
            AuthSession.revoked_at,
            User.roles,
            User.status,
        )
        .join(AuthSession, AuthSession.id == RefreshToken.session_id)
        .join(User, User.id == AuthSession.user_id)
        .where(RefreshToken.token_hash == token_hash)
    )
    row = (await session.execute(query)).one_or_none()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        raise InvalidRefresh()
    if claimed.rowcount != 1:
        if row.used_at is not None and row.used_at > now - timedelta(
            seconds=tokens.refresh_grace_seconds
        ):
            raise RefreshConflict()
        await revoke_session(session, session_id=row.session_id, reason="refresh_reused", now=now)
        raise RefreshReused()
    if row.status != "active":
        raise AccountDisabled()
    new_refresh = await _issue_refresh(
        session, tokens=tokens, session_id=row.session_id, parent_id=row.id, now=now
    )
    return _pair(
        tokens,
        user_id=row.user_id,
        session_id=row.session_id,
        roles=list(row.roles),
        refresh=new_refresh,
        now=now,
    )


async def revoke_session(
    session: AsyncSession, *, session_id: int, reason: str, now: datetime
) -> None:
    """End a session: its access tokens stop working, its refresh tokens are spent and the push
    devices registered from it are forgotten (a signed-out phone gets no more pushes)."""
    await session.execute(
        update(AuthSession)
        .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=now, revoke_reason=reason)
    )
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.session_id == session_id, RefreshToken.used_at.is_(None))
        .values(used_at=now)
    )
    await session.execute(delete(Device).where(Device.session_id == session_id))


async def revoke_user_sessions(
    session: AsyncSession, *, user_id: int, reason: str, now: datetime, keep: int | None = None
) -> list[int]:
    """End every live session of the user but `keep` (password reset, ban, "everywhere else");
    the ids it ended, for the caller to drop from its session cache."""
    query = select(AuthSession.id).where(
        AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None)
    )
    if keep is not None:
        query = query.where(AuthSession.id != keep)
    ended = list((await session.scalars(query)).all())
    for session_id in ended:
        await revoke_session(session, session_id=session_id, reason=reason, now=now)
    return ended


async def _issue_refresh(
    session: AsyncSession,
    *,
    tokens: TokenService,
    session_id: int,
    parent_id: int | None,
    now: datetime,
) -> str:
    raw, token_hash = new_refresh_token()
    await session.execute(
        insert(RefreshToken).values(
            session_id=session_id,
            token_hash=token_hash,
            parent_id=parent_id,
            created_at=now,
            expires_at=now + timedelta(seconds=tokens.refresh_seconds),
        )
    )
    return raw


def _pair(
    tokens: TokenService,
    *,
    user_id: int,
    session_id: int,
    roles: list[str],
    refresh: str,
    now: datetime,
) -> TokenPair:
    access = tokens.issue_access(user_id=user_id, session_id=session_id, roles=roles, now=now)
    return TokenPair(access_token=access, refresh_token=refresh, expires_in=tokens.access_seconds)
