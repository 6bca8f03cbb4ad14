"""Following creators and readers."""

from __future__ import annotations

from aiohttp import web

from server.http.pagination import Page, PageQuery
from server.http.registry import RouteTable
from server.identity.users.schemas import UserPath
from server.keys import RUNTIME, USER_ID
from server.social.follows import service
from server.social.follows.schemas import FollowItem, FollowState, SuggestedCreator

routes = RouteTable("follows", "Following creators and readers.")

HIDDEN = (
    "Open to everyone unless the owner hides the list (403 `follows.hidden`; the owner always "
    "sees it). `mutual`: the listed user and the owner follow each other."
)


@routes.post(
    "/api/v1/users/{id}/follow",
    params=UserPath,
    response=FollowState,
    errors=frozenset({400}),
    description="Following again is a no-op; only a new follow notifies the user "
    "(`follow.created`).",
)
async def follow_user(request: web.Request, params: UserPath) -> FollowState:
    """Follow a user"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        return await service.follow(
            uow, follower_id=request[USER_ID], followee_id=params.id, now=runtime.clock.now()
        )


@routes.delete(
    "/api/v1/users/{id}/follow",
    params=UserPath,
    response=FollowState,
    errors=frozenset({400}),
    description="Unfollowing someone you do not follow is a no-op.",
)
async def unfollow_user(request: web.Request, params: UserPath) -> FollowState:
    """Stop following a user"""
    async with request.app[RUNTIME].db.unit_of_work() as uow:
        return await service.unfollow(uow, follower_id=request[USER_ID], followee_id=params.id)


@routes.get(
    "/api/v1/users/{id}/followers",
    params=UserPath,
    query=PageQuery,
    response=Page[FollowItem],
    auth="optional",
    errors=frozenset({401, 403}),
    description=HIDDEN,
)
async def list_followers(
    request: web.Request, params: UserPath, query: PageQuery
) -> Page[FollowItem]:
    """Who follows a user, newest first"""
    viewer = request.get(USER_ID)
    async with request.app[RUNTIME].db.read() as session:
        return await service.list_followers(
            session, owner_id=params.id, viewer_id=viewer, limit=query.limit, cursor=query.cursor
        )


@routes.get(
    "/api/v1/users/{id}/following",
    params=UserPath,
    query=PageQuery,
    response=Page[FollowItem],
    auth="optional",
    errors=frozenset({401, 403}),
    description=HIDDEN,
)
async def list_following(
    request: web.Request, params: UserPath, query: PageQuery
) -> Page[FollowItem]:
    """Whom a user follows, newest first"""
    viewer = request.get(USER_ID)
    async with request.app[RUNTIME].db.read() as session:
        return await service.list_following(
            session, owner_id=params.id, viewer_id=viewer, limit=query.limit, cursor=query.cursor
        )


@routes.get(
    "/api/v1/me/suggested_creators",
    query=PageQuery,
    response=Page[SuggestedCreator],
    errors=frozenset({400}),
)
async def suggested_creators(request: web.Request, query: PageQuery) -> Page[SuggestedCreator]:
    """Creators you do not follow yet, most followed first"""
    async with request.app[RUNTIME].db.read() as session:
        return await service.suggested_creators(
            session, user_id=request[USER_ID], limit=query.limit, cursor=query.cursor
        )
