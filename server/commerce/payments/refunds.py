"""A refund row: money of one payment going back to its buyer, the ones we ask the gateway
for (`service`) and the ones the gateway made by itself (`gateway_refunds`) alike."""

from __future__ import annotations

from datetime import datetime

from models.commerce.payments import Payment, Refund
from server.commerce.orders import service as orders
from server.db import UnitOfWork


async def add_refund(
    uow: UnitOfWork, payment: Payment, *, now: datetime, **values: object
) -> Refund:
    """Keep a refund of `payment` (of its order, in its currency) made `now`: its kind, amount,
    reason, status and reference in `values`. Flushed, so it has its id."""
    refund = Refund(
        order_id=payment.order_id,
        payment_id=payment.id,
        currency=payment.currency,
        created_at=now,
        updated_at=now,
        **values,
    )
    uow.session.add(refund)
    await uow.session.flush()
    return refund


async def refund_order(uow: UnitOfWork, refund: Refund, *, now: datetime) -> None:
    """The refund's money is back with the buyer: its order is refunded, what it bought taken
    back, the ledger reversed (`orders.complete_refund`)."""
    await orders.complete_refund(
        uow,
        order_id=refund.order_id,
        amount=refund.amount,
        refund_ref=refund.out_refund_no,
        now=now,
    )
