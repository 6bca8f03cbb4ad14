"""Invoices and receipts whose job Redis lost: found in the database, queued again."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from models.catalog import InvoiceRequest, Receipt
from server.db import UnitOfWork
from server.invoices.service import issue_job_id, receipt_job_id


async def requeue_invoices(uow: UnitOfWork, *, before: datetime, limit: int) -> list[int]:
    """Queue issuing of every invoice request pending and untouched since `before`; their ids.
    (A `failed` one waits for an operator's retry.)"""
    ids = list(
        (
            await uow.session.scalars(
                select(InvoiceRequest.id)
                .where(InvoiceRequest.status == "pending", InvoiceRequest.updated_at <= before)
                .order_by(InvoiceRequest.id)
                .limit(limit)
            )
        ).all()
    )
    for invoice_id in ids:
        uow.outbox.enqueue("invoices.issue", job_id=issue_job_id(invoice_id), invoice_id=invoice_id)
    return ids


async def requeue_receipts(uow: UnitOfWork, *, before: datetime, limit: int) -> list[int]:
    """Queue drawing of every receipt pending since before `before`; their orders' ids."""
    ids = list(
        (
            await uow.session.scalars(
                select(Receipt.order_id)
                .where(Receipt.status == "pending", Receipt.created_at <= before)
                .order_by(Receipt.id)
                .limit(limit)
            )
        ).all()
    )
    for order_id in ids:
        uow.outbox.enqueue("invoices.receipt", job_id=receipt_job_id(order_id), order_id=order_id)
    return ids
