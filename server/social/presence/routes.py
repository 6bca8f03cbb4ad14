"""HTTP routes: presence."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from server.http.errors import Forbidden
from server.http.guards import Principal
from server.http.registry import RouteTable
from server.identity.users.schemas import UserPath
from server.keys import RUNTIME, USER_ID
from server.runtime import Runtime
from server.social.presence import service
from server.social.presence.schemas import PresenceOut

routes = RouteTable("presence", "Who is online.")


class PresenceHidden(Forbidden):
    code, message = "presence.hidden", "You cannot see this user's presence."


@routes.get(
    "/api/v1/users/{id}/presence",
    params=UserPath,
    response=PresenceOut,
    description="Visible to yourself, to those who follow the user or share a conversation "
    "with them, unless either blocked the other (403 `presence.hidden`). Live changes: join "
    "the room `presence:<id>` for `presence.updated`.",
)
async def get_presence(request: web.Request, params: UserPath) -> PresenceOut:
    """A user's presence"""
    runtime = request.app[RUNTIME]
    async with runtime.db.read() as session:
        if not await service.may_see(session, viewer_id=request[USER_ID], user_id=params.id):
            raise PresenceHidden()
    online = await service.is_online(runtime, params.id)
    seen = None if online else await service.last_seen(runtime, params.id)
    return PresenceOut.model_validate(
        {"user_id": params.id, "online": online, "last_seen_at": seen}
    )


def room_check(runtime: Callable[[], Runtime]) -> Callable[[Principal, str], Awaitable[bool]]:
    """Who may join `presence:<id>`: whoever may see that user's presence."""

    async def check(principal: Principal, room_id: str) -> bool:
        # isdigit alone passes "²" and other digits int() refuses.
        if not (room_id.isascii() and room_id.isdigit()) or len(room_id) > 18:
            return False
        async with runtime().db.connection() as conn:
            return await service.may_see(conn, viewer_id=principal.user_id, user_id=int(room_id))

    return check
