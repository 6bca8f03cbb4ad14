"""Money a gateway took back by itself: a chargeback, a refund made in its dashboard or merchant
portal. Such an event is never acknowledged and dropped:

* the payment is not (yet) `succeeded` here: providers do not order their events, and a "paid"
  delivery refused during an outage comes back later. The refund is kept `awaiting_payment`
  (counted nowhere) and applied in the transaction that applies "paid" (callback or query);
  a query of the payment is asked for at once, so it does not depend on the "paid" delivery;
* the order took the payment: the order is refunded, what it bought taken back, the ledger
  reversed (`orders.complete_refund`), the refund `succeeded`;
* the order never took the payment (it was cancelled and its stock gone, or paid twice): it is
  money the order never kept going back, `unclaimed` and `succeeded`. The give-back of that
  payment is made for the rest only (when "paid" applies the waiting refunds), or is replaced
  by one of the rest before it is asked for (`followup`);
* the order cannot take it (already refunded in full, more than is left): the money left but
  nothing here can follow. The refund is kept `unapplied` with the reason, admins are told, and
  reconciliation reports it (only `succeeded` refunds count as ours there).

Every path holds the payment's row lock first (see `locks`), so each refund applies once.
"""

from __future__ import annotations

from datetime import datetime

import structlog
from sqlalchemy import select

from models.commerce.payments import Payment, Refund
from server.commerce.orders import service as orders
from server.commerce.payments import locks
from server.commerce.payments.gateways.base import Notice
from server.commerce.payments.reconciliation import tell_admins
from server.commerce.payments.refunds import add_refund, refund_order
from server.db import UnitOfWork
from server.http.errors import ApiError

log = structlog.get_logger(__name__)

AWAITING = "awaiting_payment"
UNAPPLIED = "unapplied"
SUCCEEDED = "succeeded"
QUERY = "payments.query"


async def record(
    uow: UnitOfWork, *, payment: Payment, notice: Notice, reason: str, now: datetime
) -> str:
    """Keep the gateway's refund of the (locked) `payment` and apply it if the payment is
    ours already; the outcome names what happened."""
    reference = (notice.out_refund_no or notice.event_id)[:64]
    if await locks.refund(uow, reference) is not None:
        return "already"
    # The order before any plain read (see `_apply`).
    await orders.lock_order(uow, payment.order_id)
    amount = await _amount(uow, payment, notice)
    refund = await add_refund(
        uow,
        payment,
        status=AWAITING,
        kind="order",
        amount=amount,
        reason=reason,
        out_refund_no=reference,
        provider_refund_id=notice.provider_refund_id,
        now=now,
    )
    if amount <= 0:
        await _unapplied(uow, refund, "the refunded total does not add up", now=now)
        return "not_applied"
    if payment.status != SUCCEEDED:
        # The gateway refunded it, so it was paid there: ask rather than wait for "paid".
        uow.outbox.enqueue(
            QUERY, job_id=f"{QUERY}:{payment.id}:refund:{refund.id}", payment_id=payment.id
        )
        log.info("payments.gateway_refund_waits", payment_id=payment.id, refund=reference)
        return AWAITING
    return await _apply(uow, payment, refund, now=now)


async def _amount(uow: UnitOfWork, payment: Payment, notice: Notice) -> int:
    """This refund's amount. Alipay names the payment's refunded total instead: what this
    refund adds is that total less the refunds of the payment known to be back with the buyer
    (one of ours still on its way is not in Alipay's total either)."""
    amount = notice.refund_amount or payment.amount
    if not notice.refund_is_total:
        return amount
    known = await uow.session.scalars(
        select(Refund.amount).where(
            Refund.payment_id == payment.id, Refund.status.in_((SUCCEEDED, AWAITING))
        )
    )
    return amount - sum(known.all())


async def apply_waiting(uow: UnitOfWork, *, payment: Payment, now: datetime) -> int:
    """The order took the (locked) payment just now: apply the refunds that waited for it, in
    the order they came. Returns how many there were."""
    waiting = await _waiting(uow, payment.id)
    for refund in waiting:
        await _apply(uow, payment, refund, now=now)
    return len(waiting)


async def settle_unclaimed(uow: UnitOfWork, *, payment: Payment, now: datetime) -> int:
    """The order did not take the (locked) payment: the refunds that waited for it are money
    it never kept, already back with the buyer. Returns what is left to give back."""
    left = payment.amount
    for refund in await _waiting(uow, payment.id):
        refund.kind = "unclaimed"
        if refund.amount > left:
            await _unapplied(uow, refund, "more than the payment left", now=now)
            continue
        left -= refund.amount
        _succeeded(refund, now)
    return left


async def _waiting(uow: UnitOfWork, payment_id: int) -> list[Refund]:
    # Refunds wait only while the payment is not ours; they change under its lock, held here.
    rows = await uow.session.scalars(
        select(Refund)
        .where(Refund.payment_id == payment_id, Refund.status == AWAITING)
        .order_by(Refund.id)
        .execution_options(populate_existing=True)
    )
    return list(rows.all())


async def _apply(uow: UnitOfWork, payment: Payment, refund: Refund, *, now: datetime) -> str:
    # The order first (held already on every path but this is idempotent): the payment's
    # other refunds are then read without locks. Locking them would wait on a refund job that
    # holds its refund and waits for this order; reading before the order's lock would fix
    # this transaction's snapshot (REPEATABLE READ) before the order's items are ours.
    await orders.lock_order(uow, payment.order_id)
    if await _given_back(uow, payment.id):
        refund.kind = "unclaimed"
        if await _back_with_buyer(uow, payment.id) + refund.amount > payment.amount:
            await _unapplied(uow, refund, "more than the payment left", now=now)
            return "not_applied"
        _succeeded(refund, now)
        # A give-back not asked for yet shrinks to the rest (`followup`); one already asked
        # for was taken by the gateway first, which then refused this one.
        log.warning("payments.unclaimed_refunded_at_gateway", payment_id=payment.id)
        return "unclaimed"
    try:
        async with uow.session.begin_nested():
            await refund_order(uow, refund, now=now)
    except ApiError as exc:
        await _unapplied(uow, refund, exc.message, now=now)
        return "not_applied"
    _succeeded(refund, now)
    return "revoked"


async def _given_back(uow: UnitOfWork, payment_id: int) -> bool:
    """Whether the payment is one its order never took (it has `unclaimed` refunds)."""
    found = await uow.session.scalar(
        select(Refund.id)
        .where(Refund.payment_id == payment_id, Refund.kind == "unclaimed")
        .limit(1)
    )
    return found is not None


async def _back_with_buyer(uow: UnitOfWork, payment_id: int) -> int:
    amounts = await uow.session.scalars(
        select(Refund.amount).where(Refund.payment_id == payment_id, Refund.status == SUCCEEDED)
    )
    return sum(amounts.all())


def _succeeded(refund: Refund, now: datetime) -> None:
    refund.status, refund.error = SUCCEEDED, None
    refund.completed_at = refund.updated_at = now


async def _unapplied(uow: UnitOfWork, refund: Refund, why: str, *, now: datetime) -> None:
    """Money went back that nothing here can follow: keep it, and tell the admins."""
    refund.status, refund.error = UNAPPLIED, why[:255]
    refund.completed_at = refund.updated_at = now
    log.warning(
        "payments.gateway_refund_not_applied",
        refund=refund.out_refund_no,
        order_id=refund.order_id,
        error=why,
    )
    await tell_admins(
        uow,
        title=f"Refund {refund.out_refund_no} could not be applied to order {refund.order_id}",
        body=f"{refund.amount} {refund.currency}: {why}"[:500],
        data={"refund_id": refund.id, "order_id": refund.order_id},
        source=f"refund_unapplied:{refund.id}",
    )
