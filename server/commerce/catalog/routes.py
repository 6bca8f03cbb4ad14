"""HTTP routes: catalog."""

from __future__ import annotations

from aiohttp import web

from server.commerce.catalog import products, queries
from server.commerce.catalog.products import Actor
from server.commerce.catalog.schemas import (
    MyProductQuery,
    PlanContents,
    PlanContentsIn,
    ProductCreate,
    ProductOut,
    ProductPatch,
    ProductPath,
    ProductQuery,
)
from server.http.pagination import Page
from server.http.registry import RouteTable
from server.keys import PRINCIPAL, RUNTIME

routes = RouteTable("catalog", "Products for sale: contents, courses, plans, credit packs, goods.")
MANAGERS = ("creator", "admin")


def actor_of(request: web.Request) -> Actor | None:
    principal = request.get(PRINCIPAL)
    if principal is None:
        return None
    return Actor(
        user_id=principal.user_id,
        is_admin="admin" in principal.roles,
        is_creator="creator" in principal.roles,
    )


def _actor(request: web.Request) -> Actor:
    actor = actor_of(request)
    assert actor is not None  # the route requires authentication
    return actor


@routes.get("/api/v1/products", query=ProductQuery, response=Page[ProductOut], auth=False)
async def list_products(request: web.Request, query: ProductQuery) -> Page[ProductOut]:
    """Products for sale, newest first"""
    async with request.app[RUNTIME].db.read() as session:
        return await queries.list_products(session, query=query)


@routes.get(
    "/api/v1/products/{id}",
    params=ProductPath,
    response=ProductOut,
    auth="optional",
    description="Drafts and archived products are visible to their creator and admins only.",
)
async def get_product(request: web.Request, params: ProductPath) -> ProductOut:
    """One product"""
    async with request.app[RUNTIME].db.read() as session:
        product = await products.load_visible(
            session, product_id=params.id, actor=actor_of(request)
        )
        return products.product_out(product)


@routes.post(
    "/api/v1/products",
    body=ProductCreate,
    response=ProductOut,
    status=201,
    roles=MANAGERS,
    description="A creator's product is theirs; an admin who is no creator makes platform "
    "products. Content and course products sell the creator's own content; credit packs need "
    "`credits`, plans `interval`, physical goods may have `stock`.",
)
async def create_product(request: web.Request, body: ProductCreate) -> ProductOut:
    """Create a product"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        return await products.create(
            uow.session, actor=_actor(request), body=body, now=runtime.clock.now()
        )


@routes.patch(
    "/api/v1/products/{id}",
    params=ProductPath,
    body=ProductPatch,
    response=ProductOut,
    roles=MANAGERS,
)
async def update_product(
    request: web.Request, params: ProductPath, body: ProductPatch
) -> ProductOut:
    """Change a product (its creator or an admin)"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        return await products.update(
            uow.session,
            actor=_actor(request),
            product_id=params.id,
            body=body,
            now=runtime.clock.now(),
        )


@routes.delete("/api/v1/products/{id}", params=ProductPath, status=204, roles=MANAGERS)
async def archive_product(request: web.Request, params: ProductPath) -> None:
    """Take a product off sale (it is archived, never deleted)"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        await products.archive(
            uow.session, actor=_actor(request), product_id=params.id, now=runtime.clock.now()
        )


@routes.get("/api/v1/me/products", query=MyProductQuery, response=Page[ProductOut], roles=MANAGERS)
async def list_my_products(request: web.Request, query: MyProductQuery) -> Page[ProductOut]:
    """My products in every status"""
    async with request.app[RUNTIME].db.read() as session:
        return await queries.list_own(session, creator_id=_actor(request).user_id, query=query)


@routes.get(
    "/api/v1/products/{id}/contents", params=ProductPath, response=PlanContents, auth="optional"
)
async def get_plan_contents(request: web.Request, params: ProductPath) -> PlanContents:
    """What a plan includes"""
    async with request.app[RUNTIME].db.read() as session:
        await products.load_visible(session, product_id=params.id, actor=actor_of(request))
        return await products.plan_contents(session, plan_id=params.id)


@routes.put(
    "/api/v1/products/{id}/contents",
    params=ProductPath,
    body=PlanContentsIn,
    response=PlanContents,
    roles=MANAGERS,
    description="Replaces the set; a creator's plan includes only that creator's contents.",
)
async def set_plan_contents(
    request: web.Request, params: ProductPath, body: PlanContentsIn
) -> PlanContents:
    """Set what a plan includes"""
    async with request.app[RUNTIME].db.unit_of_work() as uow:
        return await products.set_plan_contents(
            uow.session, actor=_actor(request), plan_id=params.id, content_ids=body.content_ids
        )
