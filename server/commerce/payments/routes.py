"""HTTP routes: paying an order, provider callbacks, refunds, the sandbox page, reconciliation."""

from __future__ import annotations

import html
from typing import Any, Literal

from aiohttp import web

from models.commerce.orders import Order
from models.commerce.payments import Payment
from server.commerce.payments import callbacks, followup, queries, service
from server.commerce.payments.errors import GatewayDown, ProviderUnavailable
from server.commerce.payments.gateways.base import Callback, Checkout
from server.commerce.payments.gateways.registry import gateways
from server.commerce.payments.gateways.sandbox import SandboxGateway
from server.commerce.payments.schemas import (
    CallbackReceived,
    CallbackRefused,
    OrderPath,
    PaymentCreate,
    PaymentOut,
    ProviderPath,
    ReconciliationDetail,
    ReconciliationOut,
    RefundCreate,
    RefundOut,
    SandboxPaid,
    TradePath,
    WechatPayRefused,
    WechatPayTaken,
)
from server.gateway_clients.errors import GatewayError
from server.http import idempotency
from server.http.errors import NotFound
from server.http.openapi import ErrorEnvelope
from server.http.pagination import Page, PageQuery
from server.http.registry import Answer, Replay, RouteTable
from server.keys import PRINCIPAL, RUNTIME, USER_ID

routes = RouteTable("payments", "Paying orders, provider callbacks, refunds, reconciliation.")


async def _checkout(request: web.Request, order: Order, payment: Payment) -> PaymentOut:
    """The payment with what the buyer's client needs: the gateway is asked once per payment."""
    runtime = request.app[RUNTIME]
    if not payment.client:
        gateway = gateways(runtime).get(payment.provider)
        if gateway is None:
            raise ProviderUnavailable()
        checkout = Checkout(
            order_id=order.id,
            out_trade_no=payment.out_trade_no,
            amount=payment.amount,
            currency=payment.currency,
            subject=f"ShareStack {order.number}",
            notify_url=followup.notify_url(runtime, payment.provider),
        )
        try:
            client = await gateway.create(checkout)
        except GatewayError as exc:
            raise GatewayDown(f"{payment.provider}: {exc}") from exc
        async with runtime.db.unit_of_work() as uow:
            payment = await service.record_client(
                uow, payment_id=payment.id, client=client, now=runtime.clock.now()
            )
    return PaymentOut.model_validate(payment, from_attributes=True)


async def _my_payment(request: web.Request, payment_id: int) -> PaymentOut:
    """The payment a request opened, its checkout finished if the gateway was never reached."""
    async with request.app[RUNTIME].db.read() as session:
        found = await queries.payment_and_order(session, payment_id)
    if found is None or found[0].user_id != request[USER_ID]:
        raise NotFound(code="payments.not_found", message="No such payment.")
    payment, order = found
    if payment.status != service.CREATED:
        return PaymentOut.model_validate(payment, from_attributes=True)
    return await _checkout(request, order, payment)


async def _refund(request: web.Request, refund_id: int) -> RefundOut:
    async with request.app[RUNTIME].db.read() as session:
        refund = await queries.refund(session, refund_id)
    if refund is None:
        raise NotFound(code="payments.refund_not_found", message="No such refund.")
    return RefundOut.model_validate(refund, from_attributes=True)


@routes.post(
    "/api/v1/orders/{id}/payments",
    params=OrderPath,
    body=PaymentCreate,
    response=PaymentOut,
    status=201,
    idempotent=True,
    replay=Replay("payment", _my_payment),
    errors=frozenset({404, 409, 422, 503}),
    description="Opens (or reopens) a payment of the buyer's pending order at a gateway and "
    "answers what the client needs to pay. 422 `payments.provider_unavailable` when the gateway "
    "is not configured; 409 `payments.not_payable` unless the order is pending payment.",
)
async def pay_order(request: web.Request, params: OrderPath, body: PaymentCreate) -> PaymentOut:
    """Pay an order"""
    runtime = request.app[RUNTIME]
    gateway = gateways(runtime).get(body.provider)
    if gateway is None:
        raise ProviderUnavailable()
    async with runtime.db.unit_of_work() as uow:
        order, payment = await service.open_payment(
            uow,
            order_id=params.id,
            user_id=request[USER_ID],
            provider=body.provider,
            now=runtime.clock.now(),
            query_after=runtime.settings.payment_query_after_seconds,
        )
        idempotency.produced("payment", payment.id)
    return await _checkout(request, order, payment)


def _refused(when: str, *, ours_too: str = "") -> Answer:
    """A refusal in the gateway's format; `ours_too` names when the envelope answers instead."""
    json_answers: Any = WechatPayRefused | CallbackRefused
    gateways_say = (
        'Alipay `fail` (text); WeChat Pay `{"code": "FAIL", "message"}`; Stripe and the '
        'sandbox `{"error": "<reason>"}`.'
    )
    if ours_too:
        json_answers = WechatPayRefused | CallbackRefused | ErrorEnvelope
        gateways_say += f" The error envelope when {ours_too}."
    return Answer(
        f"{when}. {gateways_say}", {"text/plain": Literal["fail"], "application/json": json_answers}
    )


NOTIFY_ANSWERS = {
    200: Answer(
        'Taken (committed). Alipay `success` (text); WeChat Pay `{"code": "SUCCESS", '
        '"message"}`; Stripe and the sandbox `{"received": true}`.',
        {"text/plain": Literal["success"], "application/json": WechatPayTaken | CallbackReceived},
    ),
    400: _refused("Malformed, or not matching the payment (amount, currency, merchant, app)"),
    401: _refused("Bad signature, or a stale or replayed delivery"),
    404: _refused("No such payment", ours_too="the gateway is not configured here"),
    500: _refused("Not taken: an internal error", ours_too="the failure was not the gateway's"),
    503: _refused("Not taken: try again later", ours_too="a store is unavailable"),
}


@routes.post(
    "/api/v1/payments/{provider}/notify",
    params=ProviderPath,
    auth=False,
    answers=NOTIFY_ANSWERS,
    description="Asynchronous notifications from a gateway, answered in that gateway's own "
    "format once the event is committed (see each status). A gateway retries anything but "
    "its success answer. 422 (an unknown provider) and 429 use the error envelope.",
)
async def provider_notify(request: web.Request, params: ProviderPath) -> web.StreamResponse:
    """Receive a gateway callback"""
    runtime = request.app[RUNTIME]
    gateway = gateways(runtime).get(params.provider)
    if gateway is None:
        raise NotFound(code="payments.provider_unavailable", message="No such gateway here.")
    return await callbacks.receive(runtime, gateway, request)


SANDBOX_PAGE = """<!doctype html>
<html lang="zh"><head><meta charset="utf-8"><title>Sandbox payment</title></head>
<body><h1>沙箱支付 · Sandbox payment</h1><p>{trade}: {amount} {currency} (minor units)</p>
<form method="post"><button type="submit">Pay (no money moves)</button></form></body></html>
"""
SANDBOX_NOTE = (
    "Development only (404 in production or when the sandbox is off). The unguessable trade "
    "number is the only credential, as in a gateway's own checkout link."
)


async def _sandbox(request: web.Request, out_trade_no: str) -> tuple[SandboxGateway, Payment]:
    runtime = request.app[RUNTIME]
    gateway = gateways(runtime).get("sandbox")
    async with runtime.db.read() as session:
        payment = await queries.payment_by_trade_no(session, out_trade_no)
    if not isinstance(gateway, SandboxGateway) or payment is None or payment.provider != "sandbox":
        raise NotFound(code="payments.not_found", message="No such sandbox payment.")
    return gateway, payment


@routes.get(
    "/api/v1/payments/sandbox/{out_trade_no}/pay",
    params=TradePath,
    auth=False,
    errors=frozenset({404}),
    description="The sandbox's checkout page (HTML) with a button that pays. " + SANDBOX_NOTE,
)
async def sandbox_page(request: web.Request, params: TradePath) -> web.Response:
    """The sandbox checkout page"""
    _, payment = await _sandbox(request, params.out_trade_no)
    page = SANDBOX_PAGE.format(
        trade=html.escape(payment.out_trade_no), amount=payment.amount, currency=payment.currency
    )
    return web.Response(text=page, content_type="text/html")


@routes.post(
    "/api/v1/payments/sandbox/{out_trade_no}/pay",
    params=TradePath,
    response=SandboxPaid,
    auth=False,
    errors=frozenset({404}),
    description="Pays an open sandbox payment: the sandbox signs a callback and it goes through "
    "the same verification and application as any gateway's. " + SANDBOX_NOTE,
)
async def sandbox_pay(request: web.Request, params: TradePath) -> SandboxPaid:
    """Pay a sandbox payment"""
    gateway, payment = await _sandbox(request, params.out_trade_no)
    body = gateway.paid_callback(payment.out_trade_no, payment.amount, payment.currency)
    callback = Callback(body, gateway.sign(body), "application/json")
    answer = await callbacks.take(request.app[RUNTIME], gateway, callback)
    return SandboxPaid(outcome="taken" if answer.status < 300 else "refused")


@routes.post(
    "/api/v1/orders/{id}/refunds",
    params=OrderPath,
    body=RefundCreate,
    response=RefundOut,
    status=201,
    idempotent=True,
    replay=Replay("refund", _refund),
    errors=frozenset({404, 409, 422}),
    description="The buyer within the refund window (REFUND_WINDOW_DAYS after payment) or an "
    "admin at any time: refunds all that is left, or `amount` of it. The gateway is asked by a "
    "job; the order becomes `refunded` / `partially_refunded` when it confirms.",
)
async def refund_order(request: web.Request, params: OrderPath, body: RefundCreate) -> RefundOut:
    """Refund an order"""
    runtime = request.app[RUNTIME]
    principal = request.get(PRINCIPAL)
    async with runtime.db.unit_of_work() as uow:
        refund = await service.request_refund(
            uow,
            order_id=params.id,
            actor_id=request[USER_ID],
            admin=principal is not None and "admin" in principal.roles,
            amount=body.amount,
            reason=body.reason,
            window_days=runtime.settings.refund_window_days,
            now=runtime.clock.now(),
        )
        idempotency.produced("refund", refund.id)
    return RefundOut.model_validate(refund, from_attributes=True)


@routes.get(
    "/api/v1/admin/payments/reconciliations",
    query=PageQuery,
    response=Page[ReconciliationOut],
    roles=("admin",),
)
async def list_reconciliations(request: web.Request, query: PageQuery) -> Page[ReconciliationOut]:
    """Reconciliation runs, newest first"""
    async with request.app[RUNTIME].db.read() as session:
        return await queries.runs_page(session, limit=query.limit, cursor=query.cursor)


@routes.get(
    "/api/v1/admin/payments/reconciliations/{id}",
    params=OrderPath,
    response=ReconciliationDetail,
    roles=("admin",),
)
async def get_reconciliation(request: web.Request, params: OrderPath) -> ReconciliationDetail:
    """One reconciliation run with its mismatches"""
    async with request.app[RUNTIME].db.read() as session:
        run = await queries.run_detail(session, run_id=params.id)
    if run is None:
        raise NotFound(code="payments.reconciliation_not_found", message="No such run.")
    return run
