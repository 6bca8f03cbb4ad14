"""Authorisations in flight: single-use, expiring states bound to a provider, a redirect_uri
from the allowlist, and (where the provider speaks it) a PKCE verifier."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast
from urllib.parse import unquote, urlsplit

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.identity.oauth import OAuthState
from server.http.errors import ApiError
from server.identity.oauth.providers import Provider
from server.identity.oauth.schemas import AuthorizeOut


class RedirectNotAllowed(ApiError):
    status, code, message = (
        400,
        "oauth.redirect_uri_not_allowed",
        "This redirect_uri is not one of this service's own pages.",
    )


class StateInvalid(ApiError):
    status, code, message = (
        400,
        "oauth.state_invalid",
        "This sign-in attempt is unknown, expired or already used; start again.",
    )


@dataclass(frozen=True, slots=True)
class PendingAuthorization:
    """A claimed state: what the token exchange needs, and whose bind it is (if any)."""

    provider: str
    redirect_uri: str
    code_verifier: str | None
    user_id: int | None


def redirect_allowed(uri: str, allowlist: list[str]) -> bool:
    """True if `uri` is an http(s) URL under one of the allowlisted prefixes, on a boundary."""
    try:
        parts = urlsplit(uri)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return False
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment:
        return False
    if parts.username or parts.password or any(c in uri for c in "\\ \t\r\n"):
        return False
    # Browsers resolve dot segments, percent-encoded ones too, before they navigate.
    if any(unquote(segment) in ("..", ".") for segment in parts.path.split("/")):
        return False
    for prefix in allowlist:
        if not uri.startswith(prefix) or urlsplit(prefix).netloc != parts.netloc:
            continue
        if prefix.endswith("/") or len(uri) == len(prefix) or uri[len(prefix)] in "/?":
            return True
    return False


def hash_state(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 S256: base64url(SHA-256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def start_authorization(
    session: AsyncSession,
    *,
    provider: Provider,
    redirect_uri: str,
    allowlist: list[str],
    user_id: int | None,
    ttl_seconds: int,
    now: datetime,
) -> AuthorizeOut:
    """Record a new single-use state and build the provider's authorize URL."""
    if not redirect_allowed(redirect_uri, allowlist):
        raise RedirectNotAllowed()
    state = secrets.token_hex(24)  # WeChat accepts only [a-zA-Z0-9] in state
    verifier = secrets.token_urlsafe(48) if provider.pkce else None
    session.add(
        OAuthState(
            state_hash=hash_state(state),
            provider=provider.name,
            code_verifier=verifier,
            redirect_uri=redirect_uri,
            user_id=user_id,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_seconds),
        )
    )
    await session.flush()
    url = provider.authorize_url(
        state=state,
        redirect_uri=redirect_uri,
        code_challenge=pkce_challenge(verifier) if verifier else None,
    )
    return AuthorizeOut(authorize_url=url, state=state, expires_in=ttl_seconds)


async def claim_state(
    session: AsyncSession, *, provider: str, state: str, caller_id: int | None, now: datetime
) -> PendingAuthorization:
    """Spend the state (atomically: of two callbacks with one state, one wins).

    Unknown, expired, spent, another provider's, or a bind started by someone other than the
    caller -> 400 `oauth.state_invalid` (the caller's unit of work rolls the claim back).
    """
    state_hash = hash_state(state)
    claim = (
        update(OAuthState)
        .where(
            OAuthState.state_hash == state_hash,
            OAuthState.provider == provider,
            OAuthState.used_at.is_(None),
            OAuthState.expires_at > now,
        )
        .values(used_at=now)
    )
    claimed = cast(CursorResult[Any], await session.execute(claim))
    if claimed.rowcount != 1:
        raise StateInvalid()
    row = (
        await session.execute(
            select(OAuthState.redirect_uri, OAuthState.code_verifier, OAuthState.user_id).where(
                OAuthState.state_hash == state_hash
            )
        )
    ).one()
    if row.user_id is not None and row.user_id != caller_id:
        raise StateInvalid()
    return PendingAuthorization(provider, row.redirect_uri, row.code_verifier, row.user_id)


async def purge_expired_states(session: AsyncSession, *, now: datetime) -> int:
    """Delete authorisations that expired (used or not); for a periodic job."""
    result = cast(
        CursorResult[Any],
        await session.execute(delete(OAuthState).where(OAuthState.expires_at <= now)),
    )
    return int(result.rowcount or 0)
