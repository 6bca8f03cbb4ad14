"""HTTP routes: announcements (admins)."""

from __future__ import annotations

from aiohttp import web

from server.http.limits import client_ip
from server.http.pagination import Page, PageQuery
from server.http.registry import RouteTable
from server.keys import RUNTIME, SETTINGS, USER_ID
from server.notify.announcements import service
from server.notify.announcements.schemas import (
    AnnouncementDetail,
    AnnouncementIn,
    AnnouncementOut,
    AnnouncementPath,
)

routes = RouteTable(
    "announcements",
    "System announcements to everyone or a segment, fanned out as `system.announcement` "
    "notifications by jobs in batches.",
)

ADMIN = ("admin",)


@routes.post(
    "/api/v1/admin/announcements",
    body=AnnouncementIn,
    response=AnnouncementOut,
    status=201,
    roles=ADMIN,
    idempotent=True,
    description="Queued at once; `sent_count` grows as batches go out (see the detail).",
)
async def create_announcement(request: web.Request, body: AnnouncementIn) -> AnnouncementOut:
    """Announce something to everyone or a segment"""
    runtime = request.app[RUNTIME]
    ip = client_ip(request, request.app[SETTINGS].trust_forwarded_for)
    async with runtime.db.unit_of_work() as uow:
        return await service.create(
            uow, admin_id=request[USER_ID], body=body, ip=ip, now=runtime.clock.now()
        )


@routes.get(
    "/api/v1/admin/announcements", query=PageQuery, response=Page[AnnouncementOut], roles=ADMIN
)
async def list_announcements(request: web.Request, query: PageQuery) -> Page[AnnouncementOut]:
    """Announcements, newest first"""
    async with request.app[RUNTIME].db.read() as session:
        return await service.list_announcements(session, limit=query.limit, cursor=query.cursor)


@routes.get(
    "/api/v1/admin/announcements/{id}",
    params=AnnouncementPath,
    response=AnnouncementDetail,
    roles=ADMIN,
)
async def get_announcement(request: web.Request, params: AnnouncementPath) -> AnnouncementDetail:
    """One announcement and its progress"""
    async with request.app[RUNTIME].db.read() as session:
        return await service.get(session, announcement_id=params.id)
