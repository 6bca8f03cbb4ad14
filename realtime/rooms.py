"""Who may join which room: a registry of access checks by room kind that domains extend.

Domains never import `realtime`, so a composition root registers plain callables here:
`rooms.register("content", check)` where `await check(principal, "42") -> bool` decides
`content:42`. A kind may also be a whole room name (`dashboard:platform`, id ""). A check may
return False (403 `auth.forbidden`) or raise any ApiError, which the client gets as is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from server.http.errors import ApiError, Forbidden
from server.http.guards import Principal, require_role

RoomCheck = Callable[[Principal, str], Awaitable[bool]]


class UnknownRoom(ApiError):
    status, code, message = 404, "realtime.unknown_room", "There is no such room."


def user_room(user_id: int) -> str:
    return f"user:{user_id}"


def requires_role(*roles: str) -> RoomCheck:
    """A check passing principals that hold one of `roles` (through `require_role`)."""

    async def check(principal: Principal, _room_id: str) -> bool:
        require_role(principal, *roles)
        return True

    return check


class RoomAccess:
    """Room kind -> async check(principal, room_id). `user:<id>` is built in: one's own only."""

    def __init__(self) -> None:
        self._checks: dict[str, RoomCheck] = {}

    def register(self, kind: str, check: RoomCheck) -> None:
        if not kind or kind == "user" or kind in self._checks:
            raise ValueError(f"room kind {kind!r} is reserved or already registered")
        self._checks[kind] = check

    @property
    def kinds(self) -> list[str]:
        return sorted(self._checks)

    def resolve(self, room: str) -> tuple[RoomCheck, str]:
        """The check for `room` and the id it is given; the longest registered kind wins."""
        for kind in sorted(self._checks, key=len, reverse=True):
            if room == kind:
                return self._checks[kind], ""
            if room.startswith(kind + ":") and len(room) > len(kind) + 1:
                return self._checks[kind], room[len(kind) + 1 :]
        raise UnknownRoom()

    async def authorize(self, principal: Principal, room: str) -> None:
        """Pass, or raise UnknownRoom / Forbidden / the check's own ApiError."""
        if room.startswith("user:"):
            if room != user_room(principal.user_id):
                raise Forbidden()
            return
        check, room_id = self.resolve(room)
        if not await check(principal, room_id):
            raise Forbidden()
