"""HTTP routes: shipments of physical goods."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from server.commerce.shipping import queries, service
from server.commerce.shipping.schemas import (
    ReturnBody,
    ShipBody,
    ShipmentListQuery,
    ShipmentOut,
    ShipmentPath,
)
from server.http.pagination import Page
from server.http.registry import RouteTable
from server.keys import PRINCIPAL, RUNTIME, USER_ID

routes = RouteTable("shipping", "Shipments of physical goods: sending, receiving, returns.")

ADMIN = ("admin",)


def _is_admin(request: web.Request) -> bool:
    principal = request.get(PRINCIPAL)
    return principal is not None and "admin" in principal.roles


async def _answer(request: web.Request, shipment_id: int) -> ShipmentOut:
    async with request.app[RUNTIME].db.read() as session:
        return await queries.one(
            session,
            shipment_id=shipment_id,
            viewer_id=request[USER_ID],
            admin=_is_admin(request),
        )


@routes.get(
    "/api/v1/me/shipments",
    query=ShipmentListQuery,
    response=Page[ShipmentOut],
    description="The shipments of the goods you sell, newest first; `status=pending` is what "
    "is left to send. Each carries the buyer's address.",
)
async def list_my_shipments(request: web.Request, query: ShipmentListQuery) -> Page[ShipmentOut]:
    """Shipments I send"""
    async with request.app[RUNTIME].db.read() as session:
        return await queries.list_shipments(
            session,
            seller_id=request[USER_ID],
            everyone=False,
            status=query.status,
            limit=query.limit,
            cursor=query.cursor,
        )


@routes.get(
    "/api/v1/admin/shipments",
    query=ShipmentListQuery,
    response=Page[ShipmentOut],
    roles=ADMIN,
    description="Every shipment, newest first, optionally in one status. Admins send the "
    "platform's own goods (shipments whose `seller_id` is null).",
)
async def admin_list_shipments(request: web.Request, query: ShipmentListQuery) -> Page[ShipmentOut]:
    """All shipments (admin)"""
    async with request.app[RUNTIME].db.read() as session:
        return await queries.list_shipments(
            session,
            seller_id=None,
            everyone=True,
            status=query.status,
            limit=query.limit,
            cursor=query.cursor,
        )


@routes.get(
    "/api/v1/shipments/{id}",
    params=ShipmentPath,
    response=ShipmentOut,
    description="For its buyer, its seller and admins; 404 `shipping.not_found` for anyone else.",
)
async def get_shipment(request: web.Request, params: ShipmentPath) -> ShipmentOut:
    """One shipment"""
    return await _answer(request, params.id)


@routes.post(
    "/api/v1/shipments/{id}/ship",
    params=ShipmentPath,
    body=ShipBody,
    response=ShipmentOut,
    errors=frozenset({404, 409}),
    description="The seller (an admin for the platform's goods) sent a `pending` shipment: it "
    "becomes `shipped` with its carrier and tracking number, and the buyer is notified. 409 "
    "`shipping.illegal_transition` from any other state or once the order is refunded, "
    "`shipping.refund_in_progress` while it is being refunded.",
)
async def ship(request: web.Request, params: ShipmentPath, body: ShipBody) -> ShipmentOut:
    """Mark a shipment shipped"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        await service.ship(
            uow,
            shipment_id=params.id,
            actor_id=request[USER_ID],
            admin=_is_admin(request),
            carrier=body.carrier,
            tracking_number=body.tracking_number,
            now=runtime.clock.now(),
        )
    return await _answer(request, params.id)


@routes.post(
    "/api/v1/shipments/{id}/confirm",
    params=ShipmentPath,
    response=ShipmentOut,
    errors=frozenset({404, 409}),
    description="The buyer received a `shipped` shipment: `delivered`, and its order lines are "
    "delivered now. A shipment left unconfirmed is confirmed `ORDER_AUTO_CONFIRM_DAYS` after "
    "it shipped.",
)
async def confirm(request: web.Request, params: ShipmentPath) -> ShipmentOut:
    """Confirm receipt"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        await service.confirm(
            uow, shipment_id=params.id, buyer_id=request[USER_ID], now=runtime.clock.now()
        )
    return await _answer(request, params.id)


@routes.post(
    "/api/v1/shipments/{id}/return",
    params=ShipmentPath,
    body=ReturnBody,
    response=ShipmentOut,
    errors=frozenset({404, 409}),
    description="The buyer asks to send `shipped` goods, or goods `delivered` within "
    "`REFUND_WINDOW_DAYS`, back: `return_requested` (409 `shipping.return_window_passed` "
    "later). Shipped goods are refunded only once the seller accepts the return; the refund "
    "window opens again then.",
)
async def request_return(
    request: web.Request, params: ShipmentPath, body: ReturnBody
) -> ShipmentOut:
    """Ask for a return"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        await service.request_return(
            uow,
            shipment_id=params.id,
            buyer_id=request[USER_ID],
            reason=body.reason,
            window_days=runtime.settings.refund_window_days,
            now=runtime.clock.now(),
        )
    return await _answer(request, params.id)


@routes.post(
    "/api/v1/shipments/{id}/return/accept",
    params=ShipmentPath,
    response=ShipmentOut,
    errors=frozenset({404, 409}),
    description="The seller takes the goods back: `returned`; the buyer may then ask for the "
    "refund (`POST /api/v1/orders/{id}/refunds`) within `REFUND_WINDOW_DAYS`.",
)
async def accept_return(request: web.Request, params: ShipmentPath) -> ShipmentOut:
    """Accept a return"""
    return await _seller_decides(request, params.id, service.accept_return)


@routes.post(
    "/api/v1/shipments/{id}/return/refuse",
    params=ShipmentPath,
    response=ShipmentOut,
    errors=frozenset({404, 409}),
    description="The seller refuses a return: the shipment goes back to `shipped` or "
    "`delivered` (an admin may still refund the order).",
)
async def refuse_return(request: web.Request, params: ShipmentPath) -> ShipmentOut:
    """Refuse a return"""
    return await _seller_decides(request, params.id, service.refuse_return)


async def _seller_decides(
    request: web.Request, shipment_id: int, decide: Callable[..., Awaitable[object]]
) -> ShipmentOut:
    """The seller's (or, for the platform's goods, an admin's) decision on a return."""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        await decide(
            uow,
            shipment_id=shipment_id,
            actor_id=request[USER_ID],
            admin=_is_admin(request),
            now=runtime.clock.now(),
        )
    return await _answer(request, shipment_id)
