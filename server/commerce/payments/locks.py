"""Locked, freshly read payment and refund rows.

Every path that changes a payment's money takes the payment row first, then its refunds, then
the order: "paid" and every refund or dispute of one payment run one after another, in one lock
order, and each sees what the one before it committed.
"""

from __future__ import annotations

from sqlalchemy import select

from models.commerce.payments import Payment, Refund
from server.commerce.payments.gateways.base import Notice
from server.db import UnitOfWork


async def payment(uow: UnitOfWork, *where: object) -> Payment | None:
    return (
        await uow.session.scalars(
            select(Payment)
            .where(*where)  # type: ignore[arg-type]
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).one_or_none()


async def payment_named(uow: UnitOfWork, provider: str, notice: Notice) -> Payment | None:
    """The payment a provider's refund or dispute names: by our trade number when the event
    carries it (Alipay, WeChat Pay, the sandbox), else by the provider's transaction id
    (Stripe's PaymentIntent, known from the moment the payment was opened)."""
    if notice.out_trade_no:
        found = await payment(uow, Payment.out_trade_no == notice.out_trade_no)
    elif notice.provider_txn_id:
        found = await payment(
            uow, Payment.provider == provider, Payment.provider_txn_id == notice.provider_txn_id
        )
    else:
        return None
    return found if found is not None and found.provider == provider else None


async def refund(uow: UnitOfWork, out_refund_no: str) -> Refund | None:
    return (
        await uow.session.scalars(
            select(Refund)
            .where(Refund.out_refund_no == out_refund_no)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).one_or_none()


async def refund_by_id(uow: UnitOfWork, refund_id: int) -> Refund | None:
    return await uow.session.scalar(
        select(Refund)
        .where(Refund.id == refund_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
