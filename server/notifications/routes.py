"""The signed-in user's notifications: list, unread count, mark read."""

from __future__ import annotations

from aiohttp import web

from server.http.pagination import Page
from server.http.registry import RouteTable
from server.keys import RUNTIME, USER_ID
from server.notifications import service
from server.notifications.schemas import (
    NotificationOut,
    NotificationPath,
    NotificationQuery,
    ReadAllOut,
    UnreadCount,
)

routes = RouteTable("notifications", "Notifications: list, unread count, mark read.")


@routes.get("/api/v1/notifications", query=NotificationQuery, response=Page[NotificationOut])
async def list_notifications(
    request: web.Request, query: NotificationQuery
) -> Page[NotificationOut]:
    """The signed-in user's notifications, newest first"""
    async with request.app[RUNTIME].db.unit_of_work() as uow:
        return await service.list_notifications(
            uow.session,
            user_id=request[USER_ID],
            limit=query.limit,
            cursor=query.cursor,
            unread_only=query.unread_only,
        )


@routes.get("/api/v1/notifications/unread_count", response=UnreadCount)
async def get_unread_count(request: web.Request) -> UnreadCount:
    """How many notifications are unread"""
    async with request.app[RUNTIME].db.unit_of_work() as uow:
        unread = await service.unread_count(uow.session, user_id=request[USER_ID])
    return UnreadCount(unread=unread)


@routes.post(
    "/api/v1/notifications/{id}/read",
    params=NotificationPath,
    response=NotificationOut,
)
async def mark_read(request: web.Request, params: NotificationPath) -> NotificationOut:
    """Mark one notification read (again is harmless)"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        return await service.mark_read(
            uow, user_id=request[USER_ID], notification_id=params.id, now=runtime.clock.now()
        )


@routes.post("/api/v1/notifications/read_all", response=ReadAllOut)
async def mark_all_read(request: web.Request) -> ReadAllOut:
    """Mark every notification read"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        updated = await service.mark_all_read(
            uow, user_id=request[USER_ID], now=runtime.clock.now()
        )
    return ReadAllOut(updated=updated)
