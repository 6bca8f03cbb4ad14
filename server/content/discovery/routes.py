"""Discovery: hot, following, featured and recommended lists; sharing; featuring."""

from __future__ import annotations

from aiohttp import web

from server.content.discovery import queries, recommend, service
from server.content.discovery.schemas import FeatureOut, ShareIn
from server.content.items.access import viewer_of
from server.content.items.schemas import ContentId, ContentSummary
from server.http.limits import client_ip
from server.http.pagination import Page, PageQuery
from server.http.registry import RouteTable
from server.keys import RUNTIME, SETTINGS, USER_ID

routes = RouteTable("discovery", "Hot, following, featured and recommended content; sharing.")

ADMIN = ("admin",)


def _ip(request: web.Request) -> str:
    return client_ip(request, request.app[SETTINGS].trust_forwarded_for)


@routes.get("/api/v1/discover/hot", query=PageQuery, response=Page[ContentSummary], auth="optional")
async def hot(request: web.Request, query: PageQuery) -> Page[ContentSummary]:
    """Published content by engagement decayed with age, hottest first"""
    async with request.app[RUNTIME].db.connection() as conn:
        return await queries.list_hot(conn, limit=query.limit, cursor=query.cursor)


@routes.get("/api/v1/discover/following", query=PageQuery, response=Page[ContentSummary])
async def following(request: web.Request, query: PageQuery) -> Page[ContentSummary]:
    """Content by the authors you follow, newest first"""
    runtime = request.app[RUNTIME]
    async with runtime.db.connection() as conn:
        return await queries.list_following(
            conn,
            user_id=request[USER_ID],
            cap=runtime.settings.discover_following_cap,
            limit=query.limit,
            cursor=query.cursor,
        )


@routes.get(
    "/api/v1/discover/featured", query=PageQuery, response=Page[ContentSummary], auth="optional"
)
async def featured(request: web.Request, query: PageQuery) -> Page[ContentSummary]:
    """Content the editors feature, newest featured first"""
    async with request.app[RUNTIME].db.connection() as conn:
        return await queries.list_featured(conn, limit=query.limit, cursor=query.cursor)


@routes.get("/api/v1/discover/recommended", query=PageQuery, response=Page[ContentSummary])
async def recommended(request: web.Request, query: PageQuery) -> Page[ContentSummary]:
    """Content picked from your tags and follows (the hot list until there is enough to go on)"""
    return await recommend.recommended(
        request.app[RUNTIME], user_id=request[USER_ID], limit=query.limit, cursor=query.cursor
    )


@routes.post(
    "/api/v1/contents/{content_id}/share",
    params=ContentId,
    body=ShareIn,
    status=204,
    auth="optional",
)
async def share(request: web.Request, params: ContentId, body: ShareIn) -> None:
    """Count a share of an item through a channel (once per viewer and channel per 30 min)"""
    await service.share(
        request.app[RUNTIME],
        viewer=viewer_of(request),
        content_id=params.content_id,
        channel=body.channel,
        ip=_ip(request),
    )


@routes.post(
    "/api/v1/admin/contents/{content_id}/feature",
    params=ContentId,
    response=FeatureOut,
    roles=ADMIN,
    errors=frozenset({409}),
)
async def feature(request: web.Request, params: ContentId) -> FeatureOut:
    """Feature a published item (audited)"""
    return await _set_featured(request, params.content_id, featured=True)


@routes.delete(
    "/api/v1/admin/contents/{content_id}/feature", params=ContentId, status=204, roles=ADMIN
)
async def unfeature(request: web.Request, params: ContentId) -> None:
    """Stop featuring an item (audited)"""
    await _set_featured(request, params.content_id, featured=False)


async def _set_featured(request: web.Request, content_id: int, *, featured: bool) -> FeatureOut:
    async with request.app[RUNTIME].db.unit_of_work() as uow:
        return await service.set_featured(
            uow,
            admin_id=request[USER_ID],
            content_id=content_id,
            featured=featured,
            ip=_ip(request),
            clock=request.app[RUNTIME].clock,
        )
