"""Payments: opening a payment, applying verified provider events exactly once, refunds.

Every function takes the caller's unit of work, flushes and never commits. Gateway calls happen
outside transactions (routes and jobs call the gateway between two units of work).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

import structlog
from sqlalchemy import select

from models.commerce.orders import Order
from models.commerce.payments import Payment, PaymentEvent, Refund
from server.commerce.orders import service as orders
from server.commerce.orders.errors import OrderNotFound, PaymentMismatch
from server.commerce.payments import gateway_refunds, locks
from server.commerce.payments.errors import (
    CallbackRejected,
    PaymentNotAllowed,
    RefundNotAllowed,
)
from server.commerce.payments.gateways.base import Callback, Notice
from server.commerce.payments.refunds import add_refund, refund_order
from server.commerce.shipping import service as shipping
from server.db import UnitOfWork

log = structlog.get_logger(__name__)

QUERY = "payments.query"
REFUND = "payments.refund"
SUCCEEDED, CREATED = "succeeded", "created"


def new_reference(prefix: str, now: datetime) -> str:
    """A gateway-facing number: letter, UTC date and time, random digits (32 characters)."""
    return f"{prefix}{now:%Y%m%d%H%M%S}{secrets.randbelow(10**17):017d}"


def query_job_id(payment_id: int) -> str:
    return f"{QUERY}:{payment_id}"


def refund_job_id(refund_id: int) -> str:
    return f"{REFUND}:{refund_id}"


async def open_payment(
    uow: UnitOfWork, *, order_id: int, user_id: int, provider: str, now: datetime, query_after: int
) -> tuple[Order, Payment]:
    """The buyer's payment of a pending order at `provider`: the open one again, or a new one
    (whose query fallback is deferred by `query_after` seconds)."""
    order = await orders.lock_order(uow, order_id)
    if order.user_id != user_id:
        raise OrderNotFound()
    if order.status != "pending_payment":
        raise PaymentNotAllowed(f"An order that is {order.status} cannot be paid.")
    payment = await uow.session.scalar(
        select(Payment)
        .where(
            Payment.order_id == order.id,
            Payment.provider == provider,
            Payment.status == CREATED,
            Payment.amount == order.total,
        )
        .order_by(Payment.id.desc())
        .limit(1)
    )
    if payment is not None:
        return order, payment
    payment = Payment(
        order_id=order.id,
        user_id=user_id,
        provider=provider,
        out_trade_no=new_reference("P", now),
        amount=order.total,
        currency=order.currency,
        status=CREATED,
        client={},
        created_at=now,
        updated_at=now,
    )
    uow.session.add(payment)
    await uow.session.flush()
    uow.outbox.enqueue(
        QUERY,
        job_id=query_job_id(payment.id),
        defer_seconds=query_after,
        payment_id=payment.id,
    )
    return order, payment


async def record_client(
    uow: UnitOfWork, *, payment_id: int, client: dict[str, object], now: datetime
) -> Payment:
    """Keep what the gateway gave the buyer's client (and its transaction id, if it named one)."""
    payment = await locks.payment(uow, Payment.id == payment_id)
    assert payment is not None
    txn = client.pop("provider_txn_id", None)
    if txn and not payment.provider_txn_id:
        payment.provider_txn_id = str(txn)
    payment.client = client
    payment.updated_at = now
    return payment


async def apply_notice(
    uow: UnitOfWork, *, provider: str, notice: Notice, callback: Callback | None, now: datetime
) -> str:
    """Record a verified event and apply it. A second delivery of the same event fails the
    flush with IntegrityError (the caller answers "taken"); CallbackRejected changes nothing."""
    event = PaymentEvent(
        provider=provider,
        event_id=notice.event_id[:128],
        kind=notice.kind,
        # TEXT holds 64 KB on MySQL; real callbacks are a few KB.
        body=callback.body.decode("utf-8", "replace")[:20000] if callback else "",
        headers=_kept_headers(callback),
        verified=True,
        received_at=now,
    )
    uow.session.add(event)
    await uow.session.flush()
    payment: Payment | None
    if notice.kind == "paid":
        outcome, payment = await _apply_paid(uow, provider, notice, now)
    elif notice.kind in ("refund.succeeded", "refund.failed"):
        outcome, payment = await _apply_refund_result(uow, provider, notice, now)
    elif notice.kind == "dispute":
        outcome, payment = await _apply_dispute(uow, provider, notice, now)
    else:
        outcome, payment = "ignored", None
    if payment is not None:
        event.order_id, event.payment_id = payment.order_id, payment.id
    event.outcome, event.applied_at = outcome, now
    return outcome


def _kept_headers(callback: Callback | None) -> dict[str, str]:
    if callback is None:
        return {}
    wanted = ("content-type", "wechatpay-", "stripe-signature", "x-sandbox-")
    return {k: v for k, v in callback.headers.items() if k.lower().startswith(wanted)}


async def _apply_paid(
    uow: UnitOfWork, provider: str, notice: Notice, now: datetime
) -> tuple[str, Payment]:
    payment = await locks.payment(uow, Payment.out_trade_no == (notice.out_trade_no or ""))
    if payment is None or payment.provider != provider:
        raise CallbackRejected("unknown order", status=404)
    if notice.amount != payment.amount or (notice.currency or "").upper() != payment.currency:
        raise CallbackRejected("amount mismatch")
    if payment.status == SUCCEEDED:
        return "already", payment
    payment.status = SUCCEEDED
    payment.provider_txn_id = notice.provider_txn_id or payment.provider_txn_id
    payment.paid_at = notice.paid_at or now
    payment.updated_at = now
    try:
        # A mismatch raises before anything changed; the whole transaction rolls back anyway.
        outcome = await orders.mark_paid(
            uow,
            order_id=payment.order_id,
            provider=provider,
            amount=payment.amount,
            currency=payment.currency,
            paid_at=payment.paid_at,
            now=now,
        )
    except PaymentMismatch as exc:
        raise CallbackRejected("amount mismatch") from exc
    # "already": the order was paid through this provider, but by another payment of ours.
    if outcome in ("already", "refund_needed"):
        reason = "paid twice" if outcome == "already" else "the order could not take it"
        # What the gateway gave back by itself already is not given back twice.
        left = await gateway_refunds.settle_unclaimed(uow, payment=payment, now=now)
        if left > 0:
            await give_back(uow, payment=payment, amount=left, reason=reason, now=now)
        return "refund_needed", payment
    # Refunds and disputes that came before "paid" apply in this same transaction.
    await gateway_refunds.apply_waiting(uow, payment=payment, now=now)
    return outcome, payment


async def give_back(
    uow: UnitOfWork, *, payment: Payment, amount: int, reason: str, now: datetime
) -> Refund:
    """Refund `amount` of a payment the order never took (the order itself does not change)."""
    refund = await _ask_gateway(
        uow, payment, kind="unclaimed", amount=amount, reason=reason, now=now
    )
    log.info("payments.give_back", payment_id=payment.id, reason=reason)
    return refund


async def _apply_refund_result(
    uow: UnitOfWork, provider: str, notice: Notice, now: datetime
) -> tuple[str, Payment | None]:
    # The payment first when the event names it: the lock order of "paid" (see `locks`).
    named = await locks.payment_named(uow, provider, notice)
    refund = await locks.refund(uow, notice.out_refund_no or "")
    if refund is None:
        if notice.kind == "refund.succeeded" and named is not None:
            # Not one we asked for: made in the gateway's dashboard or merchant portal.
            reason = f"refunded at {provider}"
            return await gateway_refunds.record(
                uow, payment=named, notice=notice, reason=reason, now=now
            ), named
        raise CallbackRejected("unknown refund", status=404)
    payment = await uow.session.get(Payment, refund.payment_id)
    if payment is None or payment.provider != provider:
        raise CallbackRejected("unknown refund", status=404)
    ok = notice.kind == "refund.succeeded"
    if refund.status == gateway_refunds.AWAITING and not ok:
        # A gateway refund that failed before its payment arrived: nothing to undo.
        refund.status, refund.error = "failed", "refused by the gateway"
        refund.completed_at = refund.updated_at = now
        return "failed", payment
    if refund.status not in ("pending", "processing"):
        return "already", payment
    await finish_refund(
        uow, refund=refund, ok=ok, provider_refund_id=notice.provider_refund_id, now=now
    )
    return refund.status, payment


async def finish_refund(
    uow: UnitOfWork,
    *,
    refund: Refund,
    ok: bool,
    provider_refund_id: str | None,
    now: datetime,
    detail: str | None = None,
) -> None:
    """The gateway settled a refund (the row is locked and not final): the order follows."""
    refund.status = "succeeded" if ok else "failed"
    refund.provider_refund_id = provider_refund_id or refund.provider_refund_id
    refund.error = None if ok else (detail or "refused by the gateway")[:255]
    refund.completed_at = refund.updated_at = now
    if refund.kind != "order":
        return
    if ok:
        await refund_order(uow, refund, now=now)
    else:
        await orders.fail_refund(uow, order_id=refund.order_id, amount=refund.amount, now=now)


async def _apply_dispute(
    uow: UnitOfWork, provider: str, notice: Notice, now: datetime
) -> tuple[str, Payment]:
    """A chargeback: the money went back to the buyer by the card network's decision."""
    payment = await locks.payment_named(uow, provider, notice)
    if payment is None:
        raise CallbackRejected("unknown payment", status=404)
    outcome = await gateway_refunds.record(
        uow, payment=payment, notice=notice, reason="chargeback", now=now
    )
    return outcome, payment


async def request_refund(
    uow: UnitOfWork,
    *,
    order_id: int,
    actor_id: int,
    admin: bool,
    amount: int | None,
    reason: str,
    window_days: int,
    now: datetime,
) -> Refund:
    """Begin refunding a paid order (its buyer within the window, or an admin at any time)."""
    order = await orders.lock_order(uow, order_id)
    if not admin and order.user_id != actor_id:
        raise OrderNotFound()
    opened = await shipping.refund_window_start(uow.session, order)  # payment, or a return
    if not admin and (opened is None or now - opened > timedelta(days=window_days)):
        raise RefundNotAllowed(f"Refunds may be asked for within {window_days} days of payment.")
    payment = await uow.session.scalar(
        select(Payment)
        .where(Payment.order_id == order.id, Payment.status == SUCCEEDED)
        .order_by(Payment.id)
        .limit(1)
    )
    if payment is None:
        raise RefundNotAllowed("This order was not paid through a gateway.")
    amount = order.total - order.refunded_amount if amount is None else amount
    await orders.begin_refund(
        uow, order_id=order.id, amount=amount, reason=reason, actor_id=actor_id, now=now
    )
    # Shipped goods come back before their money does; a full refund stops what is unsent.
    await shipping.check_refund(uow, order, amount=amount, admin=admin, now=now)
    return await _ask_gateway(
        uow, payment, kind="order", amount=amount, reason=reason, requested_by=actor_id, now=now
    )


async def _ask_gateway(
    uow: UnitOfWork, payment: Payment, *, now: datetime, **values: object
) -> Refund:
    """Keep a refund of `payment` to ask its gateway for (its kind, amount, reason... in
    `values`) and queue the job that asks."""
    refund = await add_refund(
        uow, payment, now=now, status="pending", out_refund_no=new_reference("R", now), **values
    )
    uow.outbox.enqueue(REFUND, job_id=refund_job_id(refund.id), refund_id=refund.id)
    return refund
