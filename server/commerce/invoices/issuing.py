"""What the invoice and receipt jobs do: call the provider (outside any transaction), keep its
PDF, draw our receipts. Each step re-checks the state first, so a job run twice does no harm."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Literal

import structlog
from sqlalchemy import select, update

from models.commerce.invoices import InvoiceRequest, Receipt
from models.commerce.orders import Order, OrderItem
from models.identity.users import User
from server.commerce.invoices.provider import (
    InvoiceOrder,
    InvoiceProvider,
    ProviderError,
    ProviderRefused,
)
from server.commerce.invoices.receipt_pdf import ReceiptData, ReceiptLine, render_receipt
from server.commerce.invoices.service import EMAIL_CONTEXT
from server.crypto import PiiCipher
from server.db import Database
from server.storage import Storage, new_key

log = structlog.get_logger("invoices")
Outcome = Literal["issued", "retry", "failed", "skipped"]


async def _claim(
    db: Database, pii: PiiCipher, invoice_id: int, now: datetime
) -> tuple[InvoiceOrder, int] | None:
    """Count an attempt and gather what the provider needs; None unless still pending."""
    async with db.unit_of_work() as uow:
        session = uow.session
        row = await session.get(InvoiceRequest, invoice_id, with_for_update=True)
        if row is None or row.status != "pending":
            return None
        row.attempts += 1
        row.updated_at = now
        order = await session.get(Order, row.order_id)
        items = (
            await session.scalars(select(OrderItem).where(OrderItem.order_id == row.order_id))
        ).all()
        claimed = InvoiceOrder(
            out_request_no=f"SSINV{row.id:010d}",
            order_number=order.number if order else str(row.order_id),
            buyer_type=row.title_type,
            title=row.title,
            tax_number=row.tax_number,
            email=pii.decrypt(row.email_encrypted, context=EMAIL_CONTEXT),
            amount=row.amount,
            currency=row.currency,
            items=[
                {"name": item.title, "quantity": item.quantity, "amount": item.amount}
                for item in items
            ],
        )
        return claimed, row.attempts


async def _finish(db: Database, invoice_id: int, now: datetime, **values: object) -> None:
    async with db.unit_of_work() as uow:
        await uow.session.execute(
            update(InvoiceRequest)
            .where(InvoiceRequest.id == invoice_id, InvoiceRequest.status == "pending")
            .values(updated_at=now, **values)
        )
        row = await uow.session.get(InvoiceRequest, invoice_id)
        if row is not None:
            uow.outbox.publish(
                "invoice.updated",
                {"order_id": row.order_id, "status": row.status},
                user_id=row.user_id,
            )


async def issue_invoice(
    *,
    db: Database,
    storage: Storage,
    pii: PiiCipher,
    provider: InvoiceProvider | None,
    invoice_id: int,
    max_attempts: int,
    now: datetime,
) -> Outcome:
    """Ask the provider for one requested invoice and keep its PDF."""
    claimed = await _claim(db, pii, invoice_id, now)
    if claimed is None:
        return "skipped"
    order, attempts = claimed
    try:
        if provider is None:
            raise ProviderError("no invoice provider is configured")
        issued = await provider.issue(order)
    except ProviderRefused as exc:
        await _finish(db, invoice_id, now, status="failed", error=str(exc)[:255])
        return "failed"
    except ProviderError as exc:
        log.warning("invoice.provider_error", invoice_id=invoice_id, error=str(exc))
        if attempts < max_attempts:
            return "retry"
        await _finish(db, invoice_id, now, status="failed", error=str(exc)[:255])
        return "failed"
    key = new_key("invoices", ".pdf")
    await storage.put(key, issued.pdf)
    await _finish(
        db,
        invoice_id,
        now,
        status="issued",
        invoice_number=issued.invoice_no,
        storage_key=key,
        issued_at=now,
        error=None,
    )
    return "issued"


async def _receipt_data(db: Database, order_id: int, seller: str) -> ReceiptData | None:
    async with db.read() as session:
        receipt = await session.scalar(select(Receipt).where(Receipt.order_id == order_id))
        order = await session.get(Order, order_id)
        if receipt is None or receipt.status != "pending" or order is None:
            return None
        buyer = await session.scalar(select(User.nickname).where(User.id == order.user_id))
        items = (
            await session.scalars(
                select(OrderItem).where(OrderItem.order_id == order_id).order_by(OrderItem.id)
            )
        ).all()
    return ReceiptData(
        seller=seller,
        order_number=order.number,
        buyer=buyer or str(order.user_id),
        paid_at=order.paid_at,
        currency=order.currency,
        subtotal=order.subtotal,
        discount=order.discount,
        total=order.total,
        lines=[ReceiptLine(i.title, i.quantity, i.unit_price, i.amount) for i in items],
    )


async def make_receipt(
    *, db: Database, storage: Storage, order_id: int, seller: str, tz: str, now: datetime
) -> bool:
    """Draw and keep the PDF receipt of an order; False when there was nothing to do."""
    data = await _receipt_data(db, order_id, seller)
    if data is None:
        return False
    pdf = await asyncio.to_thread(render_receipt, data, tz=tz)
    key = new_key("receipts", ".pdf")
    await storage.put(key, pdf)
    async with db.unit_of_work() as uow:
        done = await uow.session.execute(
            update(Receipt)
            .where(Receipt.order_id == order_id, Receipt.status == "pending")
            .values(status="ready", storage_key=key, ready_at=now)
        )
        user_id = await uow.session.scalar(
            select(Receipt.user_id).where(Receipt.order_id == order_id)
        )
        if done.rowcount and user_id is not None:  # type: ignore[attr-defined]
            uow.outbox.publish(
                "receipt.updated", {"order_id": order_id, "status": "ready"}, user_id=user_id
            )
    return True
