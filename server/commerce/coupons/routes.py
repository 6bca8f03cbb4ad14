"""HTTP routes: coupons."""

from __future__ import annotations

from aiohttp import web

from server.commerce.catalog.products import Actor
from server.commerce.catalog.routes import MANAGERS, actor_of
from server.commerce.coupons import manage
from server.commerce.coupons.schemas import (
    CouponCreate,
    CouponListQuery,
    CouponOut,
    CouponPatch,
    CouponPath,
    QuoteIn,
    QuoteOut,
)
from server.http.pagination import Page
from server.http.registry import RouteTable
from server.keys import RUNTIME, USER_ID

routes = RouteTable("coupons", "Discount codes of creators (their products) and the platform.")


def _actor(request: web.Request) -> Actor:
    actor = actor_of(request)
    assert actor is not None  # the route requires authentication
    return actor


@routes.post(
    "/api/v1/coupons",
    body=CouponCreate,
    response=CouponOut,
    status=201,
    roles=MANAGERS,
    errors=frozenset({409}),
    description="A creator's coupon applies to that creator's products; an admin who is no "
    "creator makes platform coupons for every product. 409 `coupons.code_taken`.",
)
async def create_coupon(request: web.Request, body: CouponCreate) -> CouponOut:
    """Create a coupon"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        return await manage.create(
            uow.session, actor=_actor(request), body=body, now=runtime.clock.now()
        )


@routes.get("/api/v1/coupons", query=CouponListQuery, response=Page[CouponOut], roles=MANAGERS)
async def list_coupons(request: web.Request, query: CouponListQuery) -> Page[CouponOut]:
    """My coupons (admins: all), newest first"""
    async with request.app[RUNTIME].db.read() as session:
        return await manage.list_coupons(session, actor=_actor(request), query=query)


@routes.patch(
    "/api/v1/coupons/{id}",
    params=CouponPath,
    body=CouponPatch,
    response=CouponOut,
    roles=MANAGERS,
    description="Disable or re-enable, move the end, change the limits.",
)
async def update_coupon(request: web.Request, params: CouponPath, body: CouponPatch) -> CouponOut:
    """Change a coupon"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        return await manage.update(
            uow.session,
            actor=_actor(request),
            coupon_id=params.id,
            body=body,
            now=runtime.clock.now(),
        )


@routes.post(
    "/api/v1/coupons/quote",
    body=QuoteIn,
    response=QuoteOut,
    errors=frozenset({409}),
    description="422 `coupons.invalid` says why a code does not apply (expired, minimum "
    "amount, used up, not applicable); nothing is redeemed until an order is created.",
)
async def quote_coupon(request: web.Request, body: QuoteIn) -> QuoteOut:
    """What a coupon takes off these products"""
    runtime = request.app[RUNTIME]
    async with runtime.db.read() as session:
        return await manage.preview(
            session, user_id=request[USER_ID], body=body, now=runtime.clock.now()
        )
