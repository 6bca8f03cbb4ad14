"""HTTP routes: invoices."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from server.commerce.invoices import service
from server.commerce.invoices.provider import provider_from_settings
from server.commerce.invoices.schemas import (
    AdminInvoiceQuery,
    InvoiceCreate,
    InvoiceListQuery,
    InvoiceOut,
    OrderPath,
    ReceiptOut,
)
from server.http.pagination import Page
from server.http.registry import RouteTable
from server.keys import PRINCIPAL, RUNTIME

routes = RouteTable("invoices", "Invoices (发票) through the e-invoice provider, and PDF receipts.")
FOREIGN = "Only the buyer (and admins, for reading); others' orders answer 404."


def _caller(request: web.Request) -> service.Caller:
    principal = request[PRINCIPAL]
    return service.Caller(principal.user_id, "admin" in principal.roles)


def _links(request: web.Request) -> service.Links:
    runtime = request.app[RUNTIME]
    ttl = timedelta(seconds=runtime.settings.invoice_link_seconds)
    return service.Links(runtime.signer, runtime.clock.now(), ttl)


@routes.post(
    "/api/v1/orders/{id}/invoice",
    params=OrderPath,
    body=InvoiceCreate,
    response=InvoiceOut,
    status=201,
    idempotent=True,
    errors=frozenset({409}),
    description="The buyer of a paid order asks for one e-invoice; a job has the provider "
    "issue it (status `pending` -> `issued` | `failed`). 409 `invoices.order_not_paid`, "
    "`invoices.already_requested`; 503 `invoices.unavailable` when no provider is set up. "
    + FOREIGN,
)
async def request_invoice(
    request: web.Request, params: OrderPath, body: InvoiceCreate
) -> InvoiceOut:
    """Ask for an invoice of my order"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        return await service.request_invoice(
            uow,
            caller=_caller(request),
            order_id=params.id,
            body=body,
            pii=runtime.pii,
            links=_links(request),
            enabled=provider_from_settings(runtime.settings) is not None,
        )


@routes.get(
    "/api/v1/orders/{id}/invoice", params=OrderPath, response=InvoiceOut, description=FOREIGN
)
async def get_invoice(request: web.Request, params: OrderPath) -> InvoiceOut:
    """An order's invoice and, once issued, a download link"""
    runtime = request.app[RUNTIME]
    async with runtime.db.read() as session:
        return await service.get_invoice(
            session,
            caller=_caller(request),
            order_id=params.id,
            pii=runtime.pii,
            links=_links(request),
        )


@routes.get("/api/v1/me/invoices", query=InvoiceListQuery, response=Page[InvoiceOut])
async def list_invoices(request: web.Request, query: InvoiceListQuery) -> Page[InvoiceOut]:
    """My invoices, newest first"""
    runtime = request.app[RUNTIME]
    async with runtime.db.read() as session:
        return await service.list_invoices(
            session,
            caller=_caller(request),
            limit=query.limit,
            cursor=query.cursor,
            pii=runtime.pii,
            links=_links(request),
        )


@routes.post(
    "/api/v1/orders/{id}/receipt",
    params=OrderPath,
    response=ReceiptOut,
    status=202,
    errors=frozenset({409}),
    description="A job draws the PDF receipt (status `pending` -> `ready`); asking again "
    "answers the same receipt. 409 `invoices.order_not_paid`. " + FOREIGN,
)
async def request_receipt(request: web.Request, params: OrderPath) -> ReceiptOut:
    """Ask for the PDF receipt of my order"""
    async with request.app[RUNTIME].db.unit_of_work() as uow:
        return await service.request_receipt(
            uow, caller=_caller(request), order_id=params.id, links=_links(request)
        )


@routes.get(
    "/api/v1/orders/{id}/receipt", params=OrderPath, response=ReceiptOut, description=FOREIGN
)
async def get_receipt(request: web.Request, params: OrderPath) -> ReceiptOut:
    """An order's receipt and, once ready, a download link"""
    async with request.app[RUNTIME].db.read() as session:
        return await service.get_receipt(
            session, caller=_caller(request), order_id=params.id, links=_links(request)
        )


@routes.get(
    "/api/v1/admin/invoices", query=AdminInvoiceQuery, response=Page[InvoiceOut], roles=("admin",)
)
async def admin_list_invoices(request: web.Request, query: AdminInvoiceQuery) -> Page[InvoiceOut]:
    """Every invoice request, newest first (failed ones to retry)"""
    runtime = request.app[RUNTIME]
    async with runtime.db.read() as session:
        return await service.list_all(
            session,
            caller=_caller(request),
            status=query.status,
            limit=query.limit,
            cursor=query.cursor,
            pii=runtime.pii,
            links=_links(request),
        )


@routes.post(
    "/api/v1/admin/invoices/{id}/retry",
    params=OrderPath,
    response=InvoiceOut,
    roles=("admin",),
    errors=frozenset({409}),
    description="`id` is the invoice request's. Only failed requests (409 `invoices.not_failed`); "
    "audited.",
)
async def retry_invoice(request: web.Request, params: OrderPath) -> InvoiceOut:
    """Send a failed invoice request to the provider again"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        return await service.retry_invoice(
            uow,
            caller=_caller(request),
            invoice_id=params.id,
            pii=runtime.pii,
            links=_links(request),
        )
