"""The follow-up work jobs do: asking gateways about silent payments and carrying refunds out.

Each step calls the gateway outside any transaction, then applies what it learned in one unit
of work that re-checks the state (a job may run twice; the second run changes nothing).
"""

from __future__ import annotations

from datetime import timedelta

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from models.commerce.payments import Payment, Refund
from server.commerce.payments import locks, service
from server.commerce.payments.gateways.base import Notice, Refunding, RefundState
from server.commerce.payments.gateways.registry import gateways
from server.gateway_clients.errors import GatewayError
from server.runtime import Runtime

log = structlog.get_logger(__name__)
# Only these are ours to carry out: a gateway's own refund (awaiting its payment, or unapplied)
# is never asked for at the gateway.
OPEN_REFUND = ("pending", "processing")


async def query_payment(runtime: Runtime, *, payment_id: int) -> str:
    """Ask the gateway about a payment still waiting for its callback; apply a success."""
    async with runtime.db.read() as session:
        payment = await session.get(Payment, payment_id)
    if payment is None or payment.status != service.CREATED:
        return "settled"
    gateway = gateways(runtime).get(payment.provider)
    if gateway is None:
        return "no_gateway"
    state = await gateway.query(
        out_trade_no=payment.out_trade_no, provider_txn_id=payment.provider_txn_id
    )
    if state.status != "succeeded":
        async with runtime.db.unit_of_work() as uow:
            fresh = await uow.session.get(Payment, payment_id)
            if fresh is not None:
                fresh.queried_at = runtime.clock.now()
        return state.status
    notice = Notice(
        event_id=f"query:{payment.out_trade_no}:paid",
        kind="paid",
        out_trade_no=payment.out_trade_no,
        provider_txn_id=state.provider_txn_id,
        amount=state.amount,
        currency=state.currency,
        paid_at=state.paid_at,
    )
    try:
        async with runtime.db.unit_of_work() as uow:
            return await service.apply_notice(
                uow,
                provider=payment.provider,
                notice=notice,
                callback=None,
                now=runtime.clock.now(),
            )
    except IntegrityError:
        return "already"


async def silent_payments(runtime: Runtime, *, limit: int = 200) -> list[int]:
    """Payments opened longer ago than the query delay (and within a day) with no callback."""
    now = runtime.clock.now()
    delay = timedelta(seconds=runtime.settings.payment_query_after_seconds)
    async with runtime.db.read() as session:
        rows = await session.scalars(
            select(Payment.id)
            .where(
                Payment.status == service.CREATED,
                Payment.created_at <= now - delay,
                Payment.created_at > now - timedelta(days=1),
            )
            .order_by(Payment.created_at)
            .limit(limit)
        )
        return list(rows.all())


def notify_url(runtime: Runtime, provider: str) -> str:
    """Where `provider` sends its callbacks to this deployment."""
    settings = runtime.settings
    base = (settings.payment_notify_base_url or settings.public_base_url).rstrip("/")
    return f"{base}/api/v1/payments/{provider}/notify"


async def carry_out_refund(runtime: Runtime, *, refund_id: int) -> str:
    """Ask the gateway for a refund (asking again is safe: gateways key refunds by
    out_refund_no), or how a processing one stands; settle it when the gateway says so.

    Returns the refund's status; "processing" means ask again later. GatewayError propagates
    when the gateway did not answer (the job retries)."""
    async with runtime.db.read() as session:
        refund = await session.get(Refund, refund_id)
        payment = await session.get(Payment, refund.payment_id) if refund else None
    if refund is None or payment is None or refund.status not in OPEN_REFUND:
        return refund.status if refund else "missing"
    gateway = gateways(runtime).get(payment.provider)
    if gateway is None:
        return "no_gateway"
    if refund.status == "pending":
        overtaken = await _overtaken(runtime, refund_id=refund_id, payment_id=payment.id)
        if overtaken is not None:
            return overtaken
    refunding = Refunding(
        out_trade_no=payment.out_trade_no,
        out_refund_no=refund.out_refund_no,
        provider_txn_id=payment.provider_txn_id,
        amount=refund.amount,
        total=payment.amount,
        currency=refund.currency,
        reason=refund.reason,
        extra={"notify_url": notify_url(runtime, payment.provider)},
    )
    if refund.status == "processing":
        state = await gateway.query_refund(refunding)
    else:
        state = await gateway.refund(refunding)
    return await settle_refund(runtime, refund_id=refund_id, state=state)


async def _overtaken(runtime: Runtime, *, refund_id: int, payment_id: int) -> str | None:
    """Settle a refund not asked for yet when the gateway gave the money back by itself
    meanwhile (a chargeback, a portal refund): the gateway would refuse more than the payment
    held. What is still owed of a payment its order never took goes back under a new number.
    None: the refund is still to be asked for."""
    async with runtime.db.unit_of_work() as uow:
        # Payment, then refund: the lock order of the callbacks (see `locks`).
        payment = await locks.payment(uow, Payment.id == payment_id)
        refund = await locks.refund_by_id(uow, refund_id)
        if payment is None or refund is None or refund.status != "pending":
            return refund.status if refund else "missing"
        back = await uow.session.scalars(
            select(Refund.amount)
            .where(Refund.payment_id == payment.id, Refund.status == "succeeded")
            .with_for_update()
        )
        covered = sum(back.all())
        if covered + refund.amount <= payment.amount:
            return None
        now = runtime.clock.now()
        detail = "already given back at the gateway"
        await service.finish_refund(
            uow, refund=refund, ok=False, provider_refund_id=None, detail=detail, now=now
        )
        if refund.kind == "unclaimed" and payment.amount > covered:
            await service.give_back(
                uow, payment=payment, amount=payment.amount - covered, reason=refund.reason, now=now
            )
        log.info("payments.refund_overtaken", refund_id=refund_id, covered=covered)
        return refund.status


async def settle_refund(runtime: Runtime, *, refund_id: int, state: RefundState) -> str:
    async with runtime.db.unit_of_work() as uow:
        refund = await locks.refund_by_id(uow, refund_id)
        assert refund is not None
        if refund.status not in OPEN_REFUND:
            return refund.status
        now = runtime.clock.now()
        if state.status == "processing":
            refund.status, refund.updated_at = "processing", now
            refund.provider_refund_id = state.provider_refund_id or refund.provider_refund_id
            return "processing"
        await service.finish_refund(
            uow,
            refund=refund,
            ok=state.status == "succeeded",
            provider_refund_id=state.provider_refund_id,
            detail=state.detail,
            now=now,
        )
        log.info("payments.refund_settled", refund_id=refund_id, status=refund.status)
        return refund.status


__all__ = ["GatewayError", "carry_out_refund", "query_payment", "silent_payments"]
