"""HTTP routes: cart."""

from __future__ import annotations

from aiohttp import web

from server.commerce.cart import service
from server.commerce.cart.schemas import CartAdd, CartChange, CartItemPath, CartOut
from server.http.registry import RouteTable
from server.keys import RUNTIME, USER_ID

routes = RouteTable("cart", "The buyer's cart, at current prices.")


@routes.get("/api/v1/cart", response=CartOut)
async def get_cart(request: web.Request) -> CartOut:
    """My cart with current prices and totals"""
    async with request.app[RUNTIME].db.read() as session:
        return await service.view(session, user_id=request[USER_ID])


@routes.post(
    "/api/v1/cart/items",
    body=CartAdd,
    response=CartOut,
    errors=frozenset({409}),
    description="Adding a product already in the cart adds to its quantity; contents, plans "
    "and credit packs stay at 1. 409 `catalog.unavailable` when it is not for sale, "
    "`catalog.out_of_stock` beyond the stock, `cart.full` past 100 products.",
)
async def add_to_cart(request: web.Request, body: CartAdd) -> CartOut:
    """Put a product in my cart"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        await service.add(
            uow.session,
            user_id=request[USER_ID],
            product_id=body.product_id,
            quantity=body.quantity,
            now=runtime.clock.now(),
        )
        return await service.view(uow.session, user_id=request[USER_ID])


@routes.patch(
    "/api/v1/cart/items/{product_id}",
    params=CartItemPath,
    body=CartChange,
    response=CartOut,
    errors=frozenset({409}),
)
async def change_cart_item(request: web.Request, params: CartItemPath, body: CartChange) -> CartOut:
    """Change how many of a product my cart holds"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        await service.change(
            uow.session,
            user_id=request[USER_ID],
            product_id=params.product_id,
            quantity=body.quantity,
            now=runtime.clock.now(),
        )
        return await service.view(uow.session, user_id=request[USER_ID])


@routes.delete("/api/v1/cart/items/{product_id}", params=CartItemPath, response=CartOut)
async def remove_cart_item(request: web.Request, params: CartItemPath) -> CartOut:
    """Take a product out of my cart"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        await service.remove(
            uow.session,
            user_id=request[USER_ID],
            product_id=params.product_id,
            now=runtime.clock.now(),
        )
        return await service.view(uow.session, user_id=request[USER_ID])
