"""The signed-in user's notifications: list, unread count, mark read."""

from __future__ import annotations

from aiohttp import web

from server.http.pagination import Page, PageQuery
from server.http.registry import RouteTable
from server.keys import RUNTIME, USER_ID
from server.notify.notifications import devices, preferences, service
from server.notify.notifications.schemas import (
    DeviceIn,
    DeviceOut,
    DevicePath,
    NotificationOut,
    NotificationPath,
    NotificationQuery,
    PreferencesIn,
    PreferencesOut,
    ReadAllOut,
    UnreadCount,
)

routes = RouteTable(
    "notifications",
    "Notifications: list, unread count, mark read, per-type channel preferences, push devices. "
    "Live events: `notification.created` for a new row, `notification.updated` (same id, new "
    "`count`, `actor_ids`, title) when a burst with the same group key folds into an unread one.",
)


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


@routes.get("/api/v1/me/notification-preferences", response=PreferencesOut)
async def get_preferences(request: web.Request) -> PreferencesOut:
    """Every notification type and the channels it reaches me on"""
    async with request.app[RUNTIME].db.read() as session:
        items = await preferences.list_preferences(session, user_id=request[USER_ID])
    return PreferencesOut(items=items)


@routes.put(
    "/api/v1/me/notification-preferences",
    body=PreferencesIn,
    response=PreferencesOut,
    description="Only the listed types and channels change; an unknown type, a type listed "
    "twice or turning off a required type's in-app channel is 422 and changes nothing.",
)
async def put_preferences(request: web.Request, body: PreferencesIn) -> PreferencesOut:
    """Choose the channels of some notification types"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        items = await preferences.update_preferences(
            uow.session, user_id=request[USER_ID], items=body.items, now=runtime.clock.now()
        )
    return PreferencesOut(items=items)


@routes.get("/api/v1/me/push-devices", query=PageQuery, response=Page[DeviceOut])
async def list_push_devices(request: web.Request, query: PageQuery) -> Page[DeviceOut]:
    """My push devices, newest first (disabled ones say why)"""
    async with request.app[RUNTIME].db.read() as session:
        return await devices.list_devices(
            session, user_id=request[USER_ID], limit=query.limit, cursor=query.cursor
        )


@routes.post(
    "/api/v1/me/push-devices",
    body=DeviceIn,
    response=DeviceOut,
    status=201,
    description="Registering a token again refreshes it (and re-enables it); a token another "
    "account registered moves to me (the device changed hands).",
)
async def register_push_device(request: web.Request, body: DeviceIn) -> DeviceOut:
    """Register this device's push token"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        return await devices.register(
            uow.session, user_id=request[USER_ID], device=body, now=runtime.clock.now()
        )


@routes.delete("/api/v1/me/push-devices/{id}", params=DevicePath, status=204)
async def unregister_push_device(request: web.Request, params: DevicePath) -> None:
    """Stop pushing to one of my devices"""
    async with request.app[RUNTIME].db.unit_of_work() as uow:
        await devices.unregister(uow.session, user_id=request[USER_ID], device_id=params.id)
