"""OAuth sign-in and linking: provider identities to accounts, and the linked accounts.

One authorization-code flow for every provider: `states.start_authorization` records a
single-use, expiring state; the callback claims it (`states.claim_state`) in its own short
transaction, `identify` turns the code into an identity with no transaction open, then `sign_in`
or `link` finishes in a second one.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models.identity.oauth import OAuthAccount
from models.identity.users import User
from server import screening
from server.crypto import PiiCipher
from server.db import UnitOfWork
from server.http.errors import ApiError, Conflict, NotFound
from server.identity.auth import service as auth_service
from server.identity.auth.schemas import SignedIn, TwoFactorChallenge
from server.identity.auth.tokens import TokenService
from server.identity.oauth.providers import (
    Provider,
    ProviderHttp,
    ProviderIdentity,
    ProviderUnavailable,
    enabled_providers,
)
from server.identity.oauth.schemas import LinkedAccountOut, ProviderOut
from server.identity.oauth.states import PendingAuthorization
from server.identity.users import service as users_service
from server.identity.users.schemas import normalise_email
from server.identity.users.text import clean_nickname
from server.screening import words
from server.settings import Settings

# The website app and the mini-program of one WeChat platform share the user's unionid.
UNION_FAMILIES = {"wechat": ("wechat", "wechat_mini"), "wechat_mini": ("wechat", "wechat_mini")}
NICKNAME_MAX = 32


class ProviderDisabled(NotFound):
    code, message = "oauth.provider_disabled", "This sign-in provider is not enabled."


class AlreadyLinked(Conflict):
    code, message = "oauth.already_linked", "This provider account is linked to another account."


class ProviderAlreadyLinked(Conflict):
    code, message = (
        "oauth.provider_already_linked",
        "Your account already has an account of this provider linked; unlink it first.",
    )


class SignInRace(Conflict):
    code, message = "oauth.sign_in_conflict", "This sign-in was completed at the same time; retry."


class NotLinked(NotFound):
    code, message = "oauth.not_linked", "No account of this provider is linked to yours."


class LastLoginMethod(Conflict):
    code, message = (
        "oauth.last_login_method",
        "This is your only way to sign in; set a password or add an email or phone first.",
    )


def provider_for(settings: Settings, name: str, *, redirect: bool = True) -> Provider:
    """The enabled provider called `name` that supports this flow; else 404."""
    provider = enabled_providers(settings).get(name)
    if provider is None or provider.redirect != redirect:
        raise ProviderDisabled()
    return provider


def list_providers(settings: Settings) -> list[ProviderOut]:
    """The providers users can sign in with here."""
    return [
        ProviderOut(
            provider=p.name, name=p.label, flow="redirect" if p.redirect else "mini_program"
        )
        for p in enabled_providers(settings).values()
    ]


async def identify(
    provider: Provider,
    *,
    code: str,
    pending: PendingAuthorization | None,
    timeout_seconds: float,
) -> ProviderIdentity:
    """Ask the provider who the code belongs to (no database transaction is open meanwhile).

    `timeout_seconds` bounds the whole conversation, however many calls the provider needs.
    """
    try:
        async with asyncio.timeout(timeout_seconds), ProviderHttp(provider.name) as http:
            return await provider.identify(
                http,
                code=code,
                redirect_uri=pending.redirect_uri if pending else "",
                code_verifier=pending.code_verifier if pending else None,
            )
    except TimeoutError as exc:
        raise ProviderUnavailable() from exc


async def sign_in(
    uow: UnitOfWork,
    *,
    identity: ProviderIdentity,
    tokens: TokenService,
    pii: PiiCipher,
    client: auth_service.Client,
    now: datetime,
    word_list: words.WordList | None = None,
) -> SignedIn | TwoFactorChallenge:
    """Sign in the account linked to this identity, creating it on the first sign-in (a
    two-factor account gets a challenge instead of a session).

    A new account's nickname is the provider's name, screened with `word_list` (the built-in
    list when None); a name that is flagged or has nothing visible gives way to a generated one.
    """
    session = uow.session
    user_id = await _linked_user(session, identity=identity, now=now)
    if user_id is None:
        user_id = await _create_account(
            session, identity=identity, pii=pii, now=now, word_list=word_list or words.load(None)
        )
        auth_service.welcome_new_user(uow, user_id=user_id)
    return await auth_service.complete_sign_in(
        session, tokens=tokens, user_id=user_id, client=client, now=now
    )


async def _linked_user(
    session: AsyncSession, *, identity: ProviderIdentity, now: datetime
) -> int | None:
    """The account this identity signs in to (refreshing what we keep of it), if any."""
    account = await _account_of(session, identity)
    if account is not None:
        account.display_name = _display_name(identity)
        account.profile = identity.profile
        account.union_id = identity.union_id or account.union_id
        account.last_login_at = now
        await session.flush()
        return account.user_id
    family = UNION_FAMILIES.get(identity.provider)
    if identity.union_id is None or family is None:
        return None
    user_id = await session.scalar(
        select(OAuthAccount.user_id)
        .where(OAuthAccount.union_id == identity.union_id, OAuthAccount.provider.in_(family))
        .order_by(OAuthAccount.id)
        .limit(1)
    )
    if user_id is not None:
        await _insert_link(session, identity=identity, user_id=user_id, now=now, on_race=SignInRace)
    return user_id


async def _create_account(
    session: AsyncSession,
    *,
    identity: ProviderIdentity,
    pii: PiiCipher,
    now: datetime,
    word_list: words.WordList,
) -> int:
    """A password-less account; the provider's verified email only if no account has it."""
    email = _usable_email(identity.email)
    if email is not None and await users_service.find_user_id(session, pii, email=email):
        email = None
    nickname = _default_nickname(identity, word_list)
    user_id = await auth_service.create_user(
        session,
        pii,
        email=email,
        phone=None,
        password=None,
        nickname=nickname,
        verified=email is not None,
        now=now,
    )
    await _insert_link(session, identity=identity, user_id=user_id, now=now, on_race=SignInRace)
    return user_id


def _usable_email(email: str | None) -> str | None:
    if email is None:
        return None
    try:
        return normalise_email(email)
    except ValueError:
        return None


async def link(
    session: AsyncSession, *, identity: ProviderIdentity, user_id: int, now: datetime
) -> LinkedAccountOut:
    """Link the identity to the signed-in account; linking it again is a no-op."""
    account = await _account_of(session, identity)
    if account is not None:
        if account.user_id != user_id:
            raise AlreadyLinked()
        return _linked_out(account)
    family = UNION_FAMILIES.get(identity.provider)
    if identity.union_id is not None and family is not None:
        owner = await session.scalar(
            select(OAuthAccount.user_id)
            .where(
                OAuthAccount.union_id == identity.union_id,
                OAuthAccount.provider.in_(family),
                OAuthAccount.user_id != user_id,
            )
            .limit(1)
        )
        if owner is not None:
            raise AlreadyLinked()
    taken = await session.scalar(
        select(OAuthAccount.id).where(
            OAuthAccount.user_id == user_id, OAuthAccount.provider == identity.provider
        )
    )
    if taken is not None:
        raise ProviderAlreadyLinked()
    account = await _insert_link(
        session, identity=identity, user_id=user_id, now=now, on_race=AlreadyLinked
    )
    return _linked_out(account)


async def _account_of(session: AsyncSession, identity: ProviderIdentity) -> OAuthAccount | None:
    return await session.scalar(
        select(OAuthAccount).where(
            OAuthAccount.provider == identity.provider,
            OAuthAccount.provider_user_id == identity.provider_user_id,
        )
    )


async def _insert_link(
    session: AsyncSession,
    *,
    identity: ProviderIdentity,
    user_id: int,
    now: datetime,
    on_race: type[ApiError],
) -> OAuthAccount:
    account = OAuthAccount(
        user_id=user_id,
        provider=identity.provider,
        provider_user_id=identity.provider_user_id,
        union_id=identity.union_id,
        display_name=_display_name(identity),
        profile=identity.profile,
        created_at=now,
        last_login_at=now,
    )
    session.add(account)
    try:
        await session.flush()
    except IntegrityError as exc:  # the same identity linked by a concurrent request
        raise on_race() from exc
    return account


def _default_nickname(identity: ProviderIdentity, word_list: words.WordList) -> str:
    """The provider's name cleaned like a nickname; generated when flagged or blank."""
    name = clean_nickname(identity.display_name or "")[:NICKNAME_MAX].strip()
    if name and screening.screen({"nickname": name}, word_list).ok:
        return name
    return f"{identity.provider}_{identity.provider_user_id[-6:]}"


def _display_name(identity: ProviderIdentity, max_length: int = 100) -> str | None:
    return (identity.display_name or "").strip()[:max_length].strip() or None


def _linked_out(account: OAuthAccount) -> LinkedAccountOut:
    avatar = account.profile.get("avatar_url") if isinstance(account.profile, dict) else None
    return LinkedAccountOut(
        provider=account.provider,
        display_name=account.display_name,
        avatar_url=avatar if isinstance(avatar, str) else None,
        linked_at=account.created_at,
        last_login_at=account.last_login_at,
    )


async def list_links(session: AsyncSession, *, user_id: int) -> list[LinkedAccountOut]:
    """The user's linked provider accounts, oldest link first."""
    accounts = await session.scalars(
        select(OAuthAccount).where(OAuthAccount.user_id == user_id).order_by(OAuthAccount.id)
    )
    return [_linked_out(account) for account in accounts]


async def unlink(session: AsyncSession, *, user_id: int, provider: str) -> None:
    """Remove a linked provider, unless it is the account's last way to sign in."""
    # The user row lock serialises two unlinks racing for the last two providers.
    user = (
        await session.execute(
            select(User.password_hash, User.email, User.phone_hash)
            .where(User.id == user_id)
            .with_for_update()
        )
    ).one()
    account_id = await session.scalar(
        select(OAuthAccount.id).where(
            OAuthAccount.user_id == user_id, OAuthAccount.provider == provider
        )
    )
    if account_id is None:
        raise NotLinked()
    has_other_method = bool(user.password_hash or user.email or user.phone_hash)
    if not has_other_method:
        count = await session.scalar(
            select(func.count()).select_from(OAuthAccount).where(OAuthAccount.user_id == user_id)
        )
        if (count or 0) <= 1:
            raise LastLoginMethod()
    await session.execute(delete(OAuthAccount).where(OAuthAccount.id == account_id))
