"""The money invariants (QUALITY.md 1-8), asserted after a fault test.

`assert_money_invariants(engine)` checks, over everything in the database:

* the ledger audit: every transaction's legs sum to zero, every account's balance equals the sum
  of its entries, and no account that may not go negative is below zero;
* no order has been refunded more than it took, nor has more refund pending than is left;
* succeeded order refunds add up to each order's `refunded_amount`;
* each payment's succeeded refunds never exceed what it took.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from models.commerce.orders import Order
from models.commerce.payments import Payment, Refund
from server.commerce.ledger.audit import audit


async def assert_money_invariants(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        result = await audit(conn)
        assert result.ok, f"ledger audit failed: {result}"

        over = (
            await conn.execute(
                select(Order.id, Order.total, Order.refunded_amount, Order.refund_pending).where(
                    (Order.refunded_amount < 0)
                    | (Order.refund_pending < 0)
                    | (Order.refunded_amount + Order.refund_pending > Order.total)
                )
            )
        ).all()
        assert not over, f"orders refunded beyond their total: {over}"

        refunded = (
            select(Refund.order_id, func.sum(Refund.amount).label("total"))
            .where(Refund.status == "succeeded", Refund.kind == "order")
            .group_by(Refund.order_id)
            .subquery()
        )
        drift = (
            await conn.execute(
                select(Order.id, Order.refunded_amount, refunded.c.total)
                .join(refunded, refunded.c.order_id == Order.id)
                .where(Order.refunded_amount != refunded.c.total)
            )
        ).all()
        assert not drift, f"orders whose refunded_amount differs from their refunds: {drift}"

        per_payment = (
            select(Refund.payment_id, func.sum(Refund.amount).label("total"))
            .where(Refund.status == "succeeded")
            .group_by(Refund.payment_id)
            .subquery()
        )
        beyond = (
            await conn.execute(
                select(Payment.id, Payment.amount, per_payment.c.total)
                .join(per_payment, per_payment.c.payment_id == Payment.id)
                .where(per_payment.c.total > Payment.amount)
            )
        ).all()
        assert not beyond, f"payments refunded beyond what they took: {beyond}"
