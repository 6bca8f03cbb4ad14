"""HTTP routes: likes on content and favorites in named collections."""

from __future__ import annotations

from aiohttp import web

from server.content.items.access import viewer_of
from server.http.pagination import Page, PageQuery
from server.http.registry import RouteTable
from server.identity.users.schemas import UserPath
from server.keys import RUNTIME, USER_ID
from server.social.reactions import queries, service
from server.social.reactions.schemas import (
    CollectionIn,
    CollectionOut,
    CollectionPatch,
    CollectionPath,
    ContentPath,
    FavoriteItem,
    FavoriteState,
    ItemPath,
    LikedItem,
    LikeOut,
    MyReactions,
)

routes = RouteTable("reactions", "Likes on content and favorites in named collections.")
SEEABLE = (
    "The item must be published and visible to the caller (a paid item's preview is enough); "
    "404 otherwise. "
)
PRIVATE = "A private collection is 404 to everyone but its owner."


@routes.post(
    "/api/v1/contents/{id}/like",
    params=ContentPath,
    response=LikeOut,
    description=SEEABLE + "Liking again is a no-op; a new like tells the author "
    "(`content.liked`, folded per item).",
)
async def like_content(request: web.Request, params: ContentPath) -> LikeOut:
    """Like a content item"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        return await service.like(
            uow, viewer=viewer_of(request), content_id=params.id, now=runtime.clock.now()
        )


@routes.delete("/api/v1/contents/{id}/like", params=ContentPath, response=LikeOut)
async def unlike_content(request: web.Request, params: ContentPath) -> LikeOut:
    """Take back a like"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        return await service.unlike(
            uow, viewer=viewer_of(request), content_id=params.id, now=runtime.clock.now()
        )


@routes.get(
    "/api/v1/contents/{id}/my_reactions",
    params=ContentPath,
    response=MyReactions,
    description="Whether I like the item and which of my collections hold it.",
)
async def my_reactions(request: web.Request, params: ContentPath) -> MyReactions:
    """My like and favorites of one item"""
    async with request.app[RUNTIME].db.connection() as conn:
        return await queries.my_reactions(conn, user_id=request[USER_ID], content_id=params.id)


@routes.get("/api/v1/me/likes", query=PageQuery, response=Page[LikedItem], errors=frozenset({400}))
async def my_likes(request: web.Request, query: PageQuery) -> Page[LikedItem]:
    """What I liked, newest first"""
    async with request.app[RUNTIME].db.connection() as conn:
        return await queries.my_likes(
            conn, user_id=request[USER_ID], limit=query.limit, cursor=query.cursor
        )


@routes.post(
    "/api/v1/me/collections",
    body=CollectionIn,
    response=CollectionOut,
    status=201,
    errors=frozenset({409}),
    description="Names are unique per person (409 `favorites.name_taken`).",
)
async def create_collection(request: web.Request, body: CollectionIn) -> CollectionOut:
    """Create a favorites collection"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        return await service.create_collection(
            uow,
            user_id=request[USER_ID],
            name=body.name,
            is_public=body.is_public,
            now=runtime.clock.now(),
        )


@routes.get(
    "/api/v1/me/collections",
    query=PageQuery,
    response=Page[CollectionOut],
    errors=frozenset({400}),
)
async def my_collections(request: web.Request, query: PageQuery) -> Page[CollectionOut]:
    """My collections, newest first"""
    async with request.app[RUNTIME].db.connection() as conn:
        return await queries.collections_of(
            conn,
            owner_id=request[USER_ID],
            public_only=False,
            limit=query.limit,
            cursor=query.cursor,
        )


@routes.get(
    "/api/v1/users/{id}/collections",
    params=UserPath,
    query=PageQuery,
    response=Page[CollectionOut],
    auth="optional",
    errors=frozenset({400}),
    description="Someone's public collections (all of them for their owner).",
)
async def user_collections(
    request: web.Request, params: UserPath, query: PageQuery
) -> Page[CollectionOut]:
    """A person's public collections"""
    async with request.app[RUNTIME].db.connection() as conn:
        return await queries.collections_of(
            conn,
            owner_id=params.id,
            public_only=request.get(USER_ID) != params.id,
            limit=query.limit,
            cursor=query.cursor,
        )


@routes.get(
    "/api/v1/collections/{id}",
    params=CollectionPath,
    response=CollectionOut,
    auth="optional",
    description=PRIVATE,
)
async def get_collection(request: web.Request, params: CollectionPath) -> CollectionOut:
    """One collection"""
    async with request.app[RUNTIME].db.connection() as conn:
        return await queries.visible_collection(
            conn, viewer_id=request.get(USER_ID), collection_id=params.id
        )


@routes.patch(
    "/api/v1/collections/{id}",
    params=CollectionPath,
    body=CollectionPatch,
    response=CollectionOut,
    errors=frozenset({409}),
    description="The owner only (404 for others).",
)
async def update_collection(
    request: web.Request, params: CollectionPath, body: CollectionPatch
) -> CollectionOut:
    """Rename a collection or change who may read it"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        return await service.update_collection(
            uow,
            user_id=request[USER_ID],
            collection_id=params.id,
            name=body.name,
            is_public=body.is_public,
            now=runtime.clock.now(),
        )


@routes.delete(
    "/api/v1/collections/{id}",
    params=CollectionPath,
    status=204,
    description="The owner only (404 for others); its items go with it.",
)
async def delete_collection(request: web.Request, params: CollectionPath) -> None:
    """Delete a collection"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        await service.delete_collection(uow, user_id=request[USER_ID], collection_id=params.id)


@routes.get(
    "/api/v1/collections/{id}/items",
    params=CollectionPath,
    query=PageQuery,
    response=Page[FavoriteItem],
    auth="optional",
    errors=frozenset({400}),
    description=PRIVATE,
)
async def collection_items(
    request: web.Request, params: CollectionPath, query: PageQuery
) -> Page[FavoriteItem]:
    """The items of a collection, newest saved first"""
    async with request.app[RUNTIME].db.connection() as conn:
        return await queries.collection_items(
            conn,
            viewer_id=request.get(USER_ID),
            collection_id=params.id,
            limit=query.limit,
            cursor=query.cursor,
        )


@routes.put(
    "/api/v1/collections/{id}/items/{content_id}",
    params=ItemPath,
    response=FavoriteState,
    description=SEEABLE + "Saving again is a no-op. Only into one's own collection.",
)
async def add_favorite(request: web.Request, params: ItemPath) -> FavoriteState:
    """Save an item in a collection"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        return await service.add_favorite(
            uow,
            viewer=viewer_of(request),
            collection_id=params.id,
            content_id=params.content_id,
            now=runtime.clock.now(),
        )


@routes.delete(
    "/api/v1/collections/{id}/items/{content_id}",
    params=ItemPath,
    response=FavoriteState,
)
async def remove_favorite(request: web.Request, params: ItemPath) -> FavoriteState:
    """Take an item out of a collection"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        return await service.remove_favorite(
            uow,
            user_id=request[USER_ID],
            collection_id=params.id,
            content_id=params.content_id,
            now=runtime.clock.now(),
        )
