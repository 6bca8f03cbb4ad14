"""HTTP routes: blocks."""

from __future__ import annotations

from aiohttp import web

from server.http.pagination import Page, PageQuery
from server.http.registry import RouteTable
from server.identity.users.schemas import UserPath
from server.keys import RUNTIME, USER_ID
from server.social.blocks import service
from server.social.blocks.schemas import BlockItem, BlockState

routes = RouteTable("blocks", "Blocking users: no messages, follows or replies between you.")


@routes.post(
    "/api/v1/users/{id}/block",
    params=UserPath,
    response=BlockState,
    errors=frozenset({400}),
    description="Blocking again is a no-op. Ends the follows between you both ways; neither of "
    "you can then message or follow the other.",
)
async def block_user(request: web.Request, params: UserPath) -> BlockState:
    """Block a user"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        return await service.block(
            uow, owner_id=request[USER_ID], blocked_id=params.id, now=runtime.clock.now()
        )


@routes.delete(
    "/api/v1/users/{id}/block",
    params=UserPath,
    response=BlockState,
    errors=frozenset({400}),
    description="Unblocking someone you do not block is a no-op; follows are not restored.",
)
async def unblock_user(request: web.Request, params: UserPath) -> BlockState:
    """Unblock a user"""
    async with request.app[RUNTIME].db.unit_of_work() as uow:
        return await service.unblock(uow, owner_id=request[USER_ID], blocked_id=params.id)


@routes.get("/api/v1/me/blocks", query=PageQuery, response=Page[BlockItem])
async def list_blocks(request: web.Request, query: PageQuery) -> Page[BlockItem]:
    """The users you block, most recent first"""
    async with request.app[RUNTIME].db.read() as session:
        return await service.list_blocks(
            session, owner_id=request[USER_ID], limit=query.limit, cursor=query.cursor
        )
