"""HTTP routes: reviews."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from server import screening
from server.commerce.catalog.products import Actor
from server.commerce.catalog.routes import actor_of
from server.commerce.catalog.schemas import ProductPath
from server.commerce.reviews import queries, service
from server.commerce.reviews.schemas import (
    RatingSummary,
    ReviewCreate,
    ReviewListQuery,
    ReviewOut,
    ReviewPatch,
    ReviewPath,
)
from server.http.pagination import Page
from server.http.registry import RouteTable
from server.keys import RUNTIME, SETTINGS, USER_ID

routes = RouteTable("reviews", "Reviews of purchased products (verified purchases only).")


def _ttl(request: web.Request) -> timedelta:
    return timedelta(seconds=request.app[SETTINGS].media_url_seconds)


def _actor(request: web.Request) -> Actor:
    actor = actor_of(request)
    assert actor is not None  # the route requires authentication
    return actor


@routes.get(
    "/api/v1/products/{id}/reviews",
    params=ProductPath,
    query=ReviewListQuery,
    response=Page[ReviewOut],
    auth=False,
)
async def list_reviews(
    request: web.Request, params: ProductPath, query: ReviewListQuery
) -> Page[ReviewOut]:
    """A product's reviews, newest first"""
    runtime = request.app[RUNTIME]
    async with runtime.db.read() as session:
        return await queries.list_reviews(
            session,
            product_id=params.id,
            query=query,
            signer=runtime.signer,
            now=runtime.clock.now(),
            ttl=_ttl(request),
        )


@routes.get("/api/v1/products/{id}/rating", params=ProductPath, response=RatingSummary, auth=False)
async def get_rating(request: web.Request, params: ProductPath) -> RatingSummary:
    """A product's rating: count, average and how many reviews gave each rating"""
    async with request.app[RUNTIME].db.read() as session:
        return await service.rating_summary(session, product_id=params.id)


@routes.post(
    "/api/v1/products/{id}/reviews",
    params=ProductPath,
    body=ReviewCreate,
    response=ReviewOut,
    status=201,
    errors=frozenset({409}),
    description="Only a buyer (a paid order item of the product) reviews it, once per order "
    "item: 403 `reviews.not_a_buyer`, 409 `reviews.already_reviewed`.",
)
async def create_review(request: web.Request, params: ProductPath, body: ReviewCreate) -> ReviewOut:
    """Review a product I bought"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        review_id = await service.create(
            uow.session,
            user_id=request[USER_ID],
            product_id=params.id,
            body=body,
            policy=screening.policy_of(request.app[SETTINGS]),
            now=runtime.clock.now(),
        )
        return await queries.get_review(
            uow.session,
            review_id=review_id,
            signer=runtime.signer,
            now=runtime.clock.now(),
            ttl=_ttl(request),
        )


@routes.patch("/api/v1/reviews/{id}", params=ReviewPath, body=ReviewPatch, response=ReviewOut)
async def update_review(request: web.Request, params: ReviewPath, body: ReviewPatch) -> ReviewOut:
    """Edit my review"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        await service.update_review(
            uow.session,
            actor=_actor(request),
            review_id=params.id,
            body=body,
            policy=screening.policy_of(request.app[SETTINGS]),
            now=runtime.clock.now(),
        )
        return await queries.get_review(
            uow.session,
            review_id=params.id,
            signer=runtime.signer,
            now=runtime.clock.now(),
            ttl=_ttl(request),
        )


@routes.delete(
    "/api/v1/reviews/{id}",
    params=ReviewPath,
    status=204,
    description="The author or an admin; others get 404.",
)
async def delete_review(request: web.Request, params: ReviewPath) -> None:
    """Delete a review"""
    async with request.app[RUNTIME].db.unit_of_work() as uow:
        await service.delete_review(uow.session, actor=_actor(request), review_id=params.id)
