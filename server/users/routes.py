"""The signed-in user's own profile."""

from __future__ import annotations

from aiohttp import web

from server.http.registry import RouteTable
from server.keys import RUNTIME, USER_ID
from server.users import service
from server.users.schemas import ProfilePatch, UserOut

routes = RouteTable("users", "Profiles.")


@routes.get("/api/v1/me", response=UserOut)
async def get_me(request: web.Request) -> UserOut:
    """The signed-in user"""
    async with request.app[RUNTIME].db.read() as session:
        return await service.get_profile(session, user_id=request[USER_ID])


@routes.patch("/api/v1/me", body=ProfilePatch, response=UserOut)
async def update_me(request: web.Request, body: ProfilePatch) -> UserOut:
    """Change the nickname or the avatar"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        return await service.update_profile(
            uow.session, user_id=request[USER_ID], changes=body, clock=runtime.clock
        )
