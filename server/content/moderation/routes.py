"""Moderation: reports from anyone signed in; the report queue and automatic flags for staff."""

from __future__ import annotations

from aiohttp import web

from server.content.items.access import Viewer
from server.content.items.schemas import ContentId
from server.content.moderation import service
from server.content.moderation.schemas import (
    FlagOut,
    ReportId,
    ReportIn,
    ReportOut,
    ReportQuery,
    Resolution,
)
from server.http.limits import client_ip
from server.http.pagination import Page, PageQuery
from server.http.registry import RouteTable
from server.keys import PRINCIPAL, RUNTIME, SETTINGS, USER_ID

routes = RouteTable("moderation", "Reports, the report queue and automatic keyword flags.")
MODERATORS = ("moderator", "admin")


@routes.post(
    "/api/v1/reports", body=ReportIn, response=ReportOut, status=201, errors=frozenset({404, 409})
)
async def create_report(request: web.Request, body: ReportIn) -> ReportOut:
    """Report content, a comment, a message, a user or a post to the moderators"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        return await service.create_report(
            uow, reporter_id=request[USER_ID], body=body, now=runtime.clock.now()
        )


@routes.get(
    "/api/v1/moderation/reports", query=ReportQuery, response=Page[ReportOut], roles=MODERATORS
)
async def list_reports(request: web.Request, query: ReportQuery) -> Page[ReportOut]:
    """Reports in one status (open by default), oldest first"""
    async with request.app[RUNTIME].db.read() as session:
        return await service.list_reports(
            session,
            status=query.status,
            target_type=query.target_type,
            limit=query.limit,
            cursor=query.cursor,
        )


@routes.post(
    "/api/v1/moderation/reports/{report_id}/resolve",
    params=ReportId,
    body=Resolution,
    response=ReportOut,
    roles=MODERATORS,
    errors=frozenset({409}),
)
async def resolve_report(request: web.Request, params: ReportId, body: Resolution) -> ReportOut:
    """Dismiss a report, or uphold it (the target is taken from readers and its author told)"""
    runtime = request.app[RUNTIME]
    principal = request[PRINCIPAL]
    async with runtime.db.unit_of_work() as uow:
        return await service.resolve_report(
            uow,
            moderator=Viewer(principal.user_id, principal.roles),
            report_id=params.report_id,
            action=body.action,
            note=body.note,
            ip=client_ip(request, request.app[SETTINGS].trust_forwarded_for),
            clock=runtime.clock,
        )


@routes.get(
    "/api/v1/moderation/contents/{content_id}/flags",
    params=ContentId,
    query=PageQuery,
    response=Page[FlagOut],
    roles=MODERATORS,
)
async def content_flags(request: web.Request, params: ContentId, query: PageQuery) -> Page[FlagOut]:
    """What keyword screening found in an item's submissions, newest first"""
    async with request.app[RUNTIME].db.read() as session:
        return await service.list_flags(
            session, content_id=params.content_id, limit=query.limit, cursor=query.cursor
        )
