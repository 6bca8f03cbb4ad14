"""Invoices and receipts whose job Redis lost: found in the database, queued again."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_

from models.commerce.invoices import InvoiceRequest, Receipt
from server.commerce.invoices.service import issue_job_id, receipt_job_id
from server.db import UnitOfWork
from server.recovery import requeue_stuck


async def requeue_invoices(uow: UnitOfWork, *, before: datetime, limit: int) -> list[int]:
    """Queue issuing of every invoice request pending and untouched since `before`; their ids.
    (A `failed` one waits for an operator's retry.)"""

    def queue(invoice_id: int) -> None:
        uow.outbox.enqueue("invoices.issue", job_id=issue_job_id(invoice_id), invoice_id=invoice_id)

    stuck = and_(InvoiceRequest.status == "pending", InvoiceRequest.updated_at <= before)
    return await requeue_stuck(uow, InvoiceRequest.id, stuck, limit=limit, queue=queue)


async def requeue_receipts(uow: UnitOfWork, *, before: datetime, limit: int) -> list[int]:
    """Queue drawing of every receipt pending since before `before`; their orders' ids."""

    def queue(order_id: int) -> None:
        uow.outbox.enqueue("invoices.receipt", job_id=receipt_job_id(order_id), order_id=order_id)

    stuck = and_(Receipt.status == "pending", Receipt.created_at <= before)
    return await requeue_stuck(
        uow, Receipt.order_id, stuck, limit=limit, queue=queue, order_by=Receipt.id
    )
