"""Who is calling, and the one role check every route and socket event uses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from server.http.errors import Forbidden


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller: whose session, with which roles, until when."""

    user_id: int
    session_id: int
    roles: frozenset[str]
    expires_at: datetime


def require_role(principal: Principal | None, *roles: str) -> None:
    """Pass if the principal holds at least one of `roles`; else 403 `auth.forbidden`."""
    if principal is None or principal.roles.isdisjoint(roles):
        raise Forbidden()
