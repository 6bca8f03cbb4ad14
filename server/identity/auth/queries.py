"""Reads and writes of session state on the authenticated hot path."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.identity.sessions import AuthSession
from models.identity.users import User
from server.db import Reader


@dataclass(frozen=True, slots=True)
class SessionState:
    """What every authenticated request needs to know about its session."""

    user_id: int
    revoked: bool
    disabled: bool
    roles: frozenset[str]
    last_seen_at: datetime


# Built once: constructing a select costs more than its cached compilation.
_SESSION_STATE = (
    select(
        AuthSession.user_id,
        AuthSession.revoked_at,
        AuthSession.last_seen_at,
        User.status,
        User.roles,
    )
    .join(User, User.id == AuthSession.user_id)
    .where(AuthSession.id == bindparam("session_id"))
)


async def session_state(reader: Reader, *, session_id: int) -> SessionState | None:
    """The session's liveness and its user's roles: one primary-key read (and a join on one)."""
    row = (await reader.execute(_SESSION_STATE, {"session_id": session_id})).one_or_none()
    if row is None:
        return None
    return SessionState(
        user_id=row.user_id,
        revoked=row.revoked_at is not None,
        disabled=row.status != "active",
        roles=frozenset(row.roles),
        last_seen_at=row.last_seen_at,
    )


async def touch_session(
    session: AsyncSession, *, session_id: int, now: datetime, every: timedelta
) -> None:
    """Record activity, at most once per `every` whichever instance sees the request."""
    await session.execute(
        update(AuthSession)
        .where(AuthSession.id == session_id, AuthSession.last_seen_at < now - every)
        .values(last_seen_at=now)
    )
