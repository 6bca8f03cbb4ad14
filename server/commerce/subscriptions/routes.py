"""HTTP routes: subscriptions."""

from __future__ import annotations

from aiohttp import web

from server.commerce.subscriptions import queries, service
from server.commerce.subscriptions.schemas import (
    RenewalChange,
    SubscriptionEventOut,
    SubscriptionOut,
    SubscriptionPath,
)
from server.http.pagination import Page, PageQuery
from server.http.registry import RouteTable
from server.keys import RUNTIME, USER_ID

routes = RouteTable(
    "subscriptions",
    "Subscriptions to plans. Subscribing is buying the plan product (an order); each paid "
    "period lets the subscriber read the plan's contents until the period ends.",
)


@routes.get("/api/v1/subscriptions", query=PageQuery, response=Page[SubscriptionOut])
async def list_subscriptions(request: web.Request, query: PageQuery) -> Page[SubscriptionOut]:
    """My subscriptions, newest first"""
    async with request.app[RUNTIME].db.read() as session:
        return await queries.list_mine(
            session, user_id=request[USER_ID], limit=query.limit, cursor=query.cursor
        )


@routes.get("/api/v1/subscriptions/{id}", params=SubscriptionPath, response=SubscriptionOut)
async def get_subscription(request: web.Request, params: SubscriptionPath) -> SubscriptionOut:
    """One of my subscriptions"""
    async with request.app[RUNTIME].db.read() as session:
        return await queries.one(session, user_id=request[USER_ID], subscription_id=params.id)


@routes.get(
    "/api/v1/subscriptions/{id}/events",
    params=SubscriptionPath,
    query=PageQuery,
    response=Page[SubscriptionEventOut],
)
async def subscription_history(
    request: web.Request, params: SubscriptionPath, query: PageQuery
) -> Page[SubscriptionEventOut]:
    """A subscription's history, newest first"""
    async with request.app[RUNTIME].db.read() as session:
        return await queries.history(
            session,
            user_id=request[USER_ID],
            subscription_id=params.id,
            limit=query.limit,
            cursor=query.cursor,
        )


async def _changed(request: web.Request, subscription_id: int) -> SubscriptionOut:
    async with request.app[RUNTIME].db.read() as session:
        return await queries.one(session, user_id=request[USER_ID], subscription_id=subscription_id)


@routes.post(
    "/api/v1/subscriptions/{id}/cancel",
    params=SubscriptionPath,
    response=SubscriptionOut,
    errors=frozenset({409}),
    description="The subscription stays readable until its period ends and is not renewed "
    "(a past-due one ends at once). Cancelling twice is a no-op.",
)
async def cancel_subscription(request: web.Request, params: SubscriptionPath) -> SubscriptionOut:
    """Cancel at period end"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        await service.cancel(
            uow, user_id=request[USER_ID], subscription_id=params.id, now=runtime.clock.now()
        )
    return await _changed(request, params.id)


@routes.post(
    "/api/v1/subscriptions/{id}/resume",
    params=SubscriptionPath,
    response=SubscriptionOut,
    errors=frozenset({409}),
    description="Undo a cancellation before the period ends (409 after).",
)
async def resume_subscription(request: web.Request, params: SubscriptionPath) -> SubscriptionOut:
    """Resume a cancelled subscription"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        await service.resume(
            uow, user_id=request[USER_ID], subscription_id=params.id, now=runtime.clock.now()
        )
    return await _changed(request, params.id)


@routes.patch(
    "/api/v1/subscriptions/{id}",
    params=SubscriptionPath,
    body=RenewalChange,
    response=SubscriptionOut,
    errors=frozenset({409}),
)
async def change_renewal(
    request: web.Request, params: SubscriptionPath, body: RenewalChange
) -> SubscriptionOut:
    """Choose how the subscription renews"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        await service.set_renewal(
            uow,
            user_id=request[USER_ID],
            subscription_id=params.id,
            renew_with=body.renew_with,
            now=runtime.clock.now(),
        )
    return await _changed(request, params.id)
