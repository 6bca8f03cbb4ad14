"""HTTP routes: orders."""

from __future__ import annotations

from aiohttp import web

from server.commerce.cart import service as cart
from server.commerce.orders import queries, service
from server.commerce.orders.errors import EmptyCart
from server.commerce.orders.schemas import (
    AdminOrderListQuery,
    OrderCreate,
    OrderDetail,
    OrderListQuery,
    OrderOut,
    OrderPath,
)
from server.http import idempotency
from server.http.pagination import Page
from server.http.registry import Replay, RouteTable
from server.keys import RUNTIME, USER_ID

routes = RouteTable("orders", "Checkout, your orders and their history.")

ADMIN = ("admin",)


async def _my_order(request: web.Request, order_id: int) -> OrderDetail:
    async with request.app[RUNTIME].db.read() as session:
        return await queries.order_detail(session, order_id=order_id, user_id=request[USER_ID])


@routes.post(
    "/api/v1/orders",
    body=OrderCreate,
    response=OrderDetail,
    status=201,
    idempotent=True,
    replay=Replay("order", _my_order),
    errors=frozenset({409, 422}),
    description="Prices are recomputed now; physical goods' stock is reserved and the coupon "
    "used until the order is paid or cancelled. An order unpaid after "
    "`ORDER_PAYMENT_TIMEOUT_SECONDS` is cancelled. A free order (total 0) comes back fulfilled. "
    "Ordering from the cart takes the ordered products out of it. Send an `Idempotency-Key` to "
    "make retries safe. An order of physical goods needs a `shipping_address` (422 "
    "`shipping.address_required`); one sent with no physical goods is ignored.",
)
async def create_order(request: web.Request, body: OrderCreate) -> OrderDetail:
    """Check out the cart or a list of products"""
    runtime = request.app[RUNTIME]
    user_id = request[USER_ID]
    async with runtime.db.unit_of_work() as uow:
        if body.from_cart:
            items = await cart.checkout_items(uow.session, user_id=user_id)
            if not items:
                raise EmptyCart()
        else:
            items = [(line.product_id, line.quantity) for line in body.items or ()]
        order = await service.create_order(
            uow,
            user_id=user_id,
            items=items,
            coupon_code=body.coupon_code,
            shipping_address=body.shipping_address,
            require_address=True,
            now=runtime.clock.now(),
            timeout_seconds=runtime.settings.order_payment_timeout_seconds,
        )
        idempotency.produced("order", order.id)
        if body.from_cart:
            await cart.clear(uow.session, user_id=user_id, product_ids=[pid for pid, _ in items])
        return await queries.order_detail(uow.session, order_id=order.id, user_id=user_id)


@routes.get(
    "/api/v1/orders",
    query=OrderListQuery,
    response=Page[OrderOut],
    description="Your orders, newest first.",
)
async def list_my_orders(request: web.Request, query: OrderListQuery) -> Page[OrderOut]:
    """Your orders"""
    async with request.app[RUNTIME].db.read() as session:
        return await queries.list_orders(
            session,
            user_id=request[USER_ID],
            status=query.status,
            limit=query.limit,
            cursor=query.cursor,
        )


@routes.get("/api/v1/orders/{id}", params=OrderPath, response=OrderDetail)
async def get_my_order(request: web.Request, params: OrderPath) -> OrderDetail:
    """One of your orders with its lines and history"""
    return await _my_order(request, params.id)


@routes.post(
    "/api/v1/orders/{id}/cancel",
    params=OrderPath,
    response=OrderDetail,
    errors=frozenset({409}),
    description="Only an unpaid order can be cancelled (409 `orders.illegal_transition` "
    "otherwise); cancelling it again is a no-op. Its stock and coupon use are given back.",
)
async def cancel_my_order(request: web.Request, params: OrderPath) -> OrderDetail:
    """Cancel your unpaid order"""
    runtime = request.app[RUNTIME]
    user_id = request[USER_ID]
    async with runtime.db.unit_of_work() as uow:
        await service.cancel(
            uow,
            order_id=params.id,
            reason="cancelled by buyer",
            user_id=user_id,
            now=runtime.clock.now(),
        )
        return await queries.order_detail(uow.session, order_id=params.id, user_id=user_id)


@routes.get(
    "/api/v1/admin/orders",
    query=AdminOrderListQuery,
    response=Page[OrderOut],
    roles=ADMIN,
    description="Every order, newest first, optionally one buyer's or in one status.",
)
async def admin_list_orders(request: web.Request, query: AdminOrderListQuery) -> Page[OrderOut]:
    """All orders (admin)"""
    async with request.app[RUNTIME].db.read() as session:
        return await queries.list_orders(
            session,
            user_id=query.user_id,
            status=query.status,
            limit=query.limit,
            cursor=query.cursor,
        )


@routes.get("/api/v1/admin/orders/{id}", params=OrderPath, response=OrderDetail, roles=ADMIN)
async def admin_get_order(request: web.Request, params: OrderPath) -> OrderDetail:
    """Any order with its lines and history (admin)"""
    async with request.app[RUNTIME].db.read() as session:
        return await queries.order_detail(session, order_id=params.id, user_id=None)
