"""Reads of payments and reconciliation runs."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.commerce.orders import Order
from models.commerce.payments import Payment, ReconciliationMismatch, ReconciliationRun, Refund
from server.commerce.payments.schemas import MismatchOut, ReconciliationDetail, ReconciliationOut
from server.http.pagination import InvalidCursor, Page, decode_cursor, page_of


async def payment_by_trade_no(session: AsyncSession, out_trade_no: str) -> Payment | None:
    payment: Payment | None = await session.scalar(
        select(Payment).where(Payment.out_trade_no == out_trade_no)
    )
    return payment


async def payment_and_order(session: AsyncSession, payment_id: int) -> tuple[Payment, Order] | None:
    """A payment with the order it pays, or None when either is missing."""
    payment = await session.get(Payment, payment_id)
    order = await session.get(Order, payment.order_id) if payment is not None else None
    return (payment, order) if payment is not None and order is not None else None


async def refund(session: AsyncSession, refund_id: int) -> Refund | None:
    return await session.get(Refund, refund_id)


async def runs_page(
    session: AsyncSession, *, limit: int, cursor: str | None
) -> Page[ReconciliationOut]:
    position = decode_cursor(cursor)
    statement = select(ReconciliationRun).order_by(ReconciliationRun.id.desc()).limit(limit + 1)
    if position is not None:
        after = position.get("id")
        if not isinstance(after, int):
            raise InvalidCursor()
        statement = statement.where(ReconciliationRun.id < after)
    rows = (await session.scalars(statement)).all()
    items = [ReconciliationOut.model_validate(row, from_attributes=True) for row in rows]
    return page_of(items, limit, lambda item: {"id": item.id})


async def run_detail(session: AsyncSession, *, run_id: int) -> ReconciliationDetail | None:
    run = await session.get(ReconciliationRun, run_id)
    if run is None:
        return None
    rows = await session.scalars(
        select(ReconciliationMismatch)
        .where(ReconciliationMismatch.run_id == run_id)
        .order_by(ReconciliationMismatch.id)
        .limit(1000)
    )
    base = ReconciliationOut.model_validate(run, from_attributes=True)
    mismatches = [MismatchOut.model_validate(row, from_attributes=True) for row in rows]
    return ReconciliationDetail(**base.model_dump(), mismatches=mismatches)
