"""Invoice requests (发票) and receipts of paid orders: asked for by the buyer, made by jobs,
downloaded by signed links bound to the caller. Others' orders are unknown (404)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models.commerce.invoices import InvoiceRequest, Receipt
from models.commerce.orders import Order
from server.audit import record_admin_action
from server.commerce.catalog.queries import after_id
from server.commerce.invoices.schemas import InvoiceCreate, InvoiceOut, ReceiptOut
from server.crypto import PiiCipher
from server.db import UnitOfWork
from server.http.errors import Conflict, NotFound, ServiceUnavailable
from server.http.pagination import Page, page_of
from server.signing import UrlSigner

# Orders that may be invoiced or receipted: paid, and not wholly refunded.
INVOICEABLE = ("paid", "fulfilled", "refunding", "partially_refunded")
EMAIL_CONTEXT = "invoice_requests.email"


class OrderNotFound(NotFound):
    code, message = "invoices.order_not_found", "No such order."


class OrderNotPaid(Conflict):
    code, message = "invoices.order_not_paid", "Only a paid order gets an invoice or a receipt."


class AlreadyRequested(Conflict):
    code, message = "invoices.already_requested", "An invoice was asked for this order already."


class InvoiceNotFound(NotFound):
    code, message = "invoices.not_found", "No invoice was asked for this order."


class ReceiptNotFound(NotFound):
    code, message = "invoices.receipt_not_found", "No receipt was asked for this order."


class NotFailed(Conflict):
    code, message = "invoices.not_failed", "Only a failed invoice request is tried again."


class InvoicesUnavailable(ServiceUnavailable):
    code, message = "invoices.unavailable", "Invoices are not available at the moment."


@dataclass(frozen=True, slots=True)
class Caller:
    user_id: int
    is_admin: bool


@dataclass(frozen=True, slots=True)
class Links:
    signer: UrlSigner
    now: datetime
    ttl: timedelta

    def sign(self, key: str | None, caller: Caller) -> str | None:
        if key is None:
            return None
        return self.signer.sign(key, now=self.now, ttl=self.ttl, user_id=caller.user_id)[0]


def issue_job_id(invoice_id: int) -> str:
    return f"invoices.issue:{invoice_id}"


def receipt_job_id(order_id: int) -> str:
    return f"invoices.receipt:{order_id}"


def mask_email(email: str) -> str:
    name, _, domain = email.partition("@")
    return f"{name[:1]}***@{domain}"


async def order_of(session: AsyncSession, *, order_id: int, caller: Caller) -> Order:
    """The caller's order (any order for an admin); 404 for everyone else's."""
    order = await session.get(Order, order_id)
    if order is None or not (caller.is_admin or order.user_id == caller.user_id):
        raise OrderNotFound()
    return order


def invoice_out(row: InvoiceRequest, *, pii: PiiCipher, links: Links, caller: Caller) -> InvoiceOut:
    return InvoiceOut(
        id=row.id,
        order_id=row.order_id,
        title_type=row.title_type,
        title=row.title,
        tax_number=row.tax_number,
        email=mask_email(pii.decrypt(row.email_encrypted, context=EMAIL_CONTEXT)),
        amount=row.amount,
        currency=row.currency,
        status=row.status,
        invoice_number=row.invoice_number,
        error=row.error,
        download_url=links.sign(row.storage_key if row.status == "issued" else None, caller),
        created_at=row.created_at,
        issued_at=row.issued_at,
    )


async def request_invoice(
    uow: UnitOfWork,
    *,
    caller: Caller,
    order_id: int,
    body: InvoiceCreate,
    pii: PiiCipher,
    links: Links,
    enabled: bool,
) -> InvoiceOut:
    """The buyer asks for an invoice of a paid order; a job asks the provider for it."""
    session = uow.session
    order = await order_of(session, order_id=order_id, caller=Caller(caller.user_id, False))
    if order.status not in INVOICEABLE:
        raise OrderNotPaid()
    if not enabled:
        raise InvoicesUnavailable()
    row = InvoiceRequest(
        order_id=order.id,
        user_id=order.user_id,
        title_type=body.title_type,
        title=body.title,
        tax_number=body.tax_number,
        email_encrypted=pii.encrypt(body.email, context=EMAIL_CONTEXT),
        amount=order.total - order.refunded_amount,
        currency=order.currency,
        status="pending",
        attempts=0,
        created_at=links.now,
        updated_at=links.now,
    )
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError as exc:
        raise AlreadyRequested() from exc
    uow.outbox.enqueue("invoices.issue", job_id=issue_job_id(row.id), invoice_id=row.id)
    return invoice_out(row, pii=pii, links=links, caller=caller)


async def get_invoice(
    session: AsyncSession, *, caller: Caller, order_id: int, pii: PiiCipher, links: Links
) -> InvoiceOut:
    await order_of(session, order_id=order_id, caller=caller)
    row = await session.scalar(select(InvoiceRequest).where(InvoiceRequest.order_id == order_id))
    if row is None:
        raise InvoiceNotFound()
    return invoice_out(row, pii=pii, links=links, caller=caller)


async def list_invoices(
    session: AsyncSession,
    *,
    caller: Caller,
    limit: int,
    cursor: str | None,
    pii: PiiCipher,
    links: Links,
) -> Page[InvoiceOut]:
    """The caller's invoice requests, newest first."""
    statement = select(InvoiceRequest).where(InvoiceRequest.user_id == caller.user_id)
    after = after_id(cursor)
    if after is not None:
        statement = statement.where(InvoiceRequest.id < after)
    rows = (
        await session.scalars(statement.order_by(InvoiceRequest.id.desc()).limit(limit + 1))
    ).all()
    items = [invoice_out(row, pii=pii, links=links, caller=caller) for row in rows]
    return page_of(items, limit, lambda item: {"id": item.id})


async def list_all(
    session: AsyncSession,
    *,
    caller: Caller,
    status: str | None,
    limit: int,
    cursor: str | None,
    pii: PiiCipher,
    links: Links,
) -> Page[InvoiceOut]:
    """Every invoice request (admins), newest first, optionally of one status."""
    statement = select(InvoiceRequest)
    if status is not None:
        statement = statement.where(InvoiceRequest.status == status)
    after = after_id(cursor)
    if after is not None:
        statement = statement.where(InvoiceRequest.id < after)
    rows = (
        await session.scalars(statement.order_by(InvoiceRequest.id.desc()).limit(limit + 1))
    ).all()
    items = [invoice_out(row, pii=pii, links=links, caller=caller) for row in rows]
    return page_of(items, limit, lambda item: {"id": item.id})


async def retry_invoice(
    uow: UnitOfWork, *, caller: Caller, invoice_id: int, pii: PiiCipher, links: Links
) -> InvoiceOut:
    """An admin sends a failed request to the provider again (attempts start over)."""
    row = await uow.session.get(InvoiceRequest, invoice_id, with_for_update=True)
    if row is None:
        raise InvoiceNotFound("No such invoice request.")
    if row.status != "failed":
        raise NotFailed()
    await record_admin_action(
        uow.session,
        admin_id=caller.user_id,
        action="invoice.retried",
        target_type="invoice_request",
        target_id=row.id,
        detail={"error": row.error},
    )
    row.status, row.attempts, row.error, row.updated_at = "pending", 0, None, links.now
    job_id = f"{issue_job_id(row.id)}:retry:{int(links.now.timestamp())}"
    uow.outbox.enqueue("invoices.issue", job_id=job_id, invoice_id=row.id)
    await uow.session.flush()
    return invoice_out(row, pii=pii, links=links, caller=caller)


def receipt_out(row: Receipt, *, links: Links, caller: Caller) -> ReceiptOut:
    ready = row.status == "ready"
    return ReceiptOut(
        order_id=row.order_id,
        status=row.status,
        download_url=links.sign(row.storage_key if ready else None, caller),
        created_at=row.created_at,
        ready_at=row.ready_at,
    )


async def request_receipt(
    uow: UnitOfWork, *, caller: Caller, order_id: int, links: Links
) -> ReceiptOut:
    """Ask for the PDF receipt of a paid order (again: the same receipt)."""
    session = uow.session
    order = await order_of(session, order_id=order_id, caller=caller)
    if order.status not in INVOICEABLE:
        raise OrderNotPaid()
    row = await session.scalar(select(Receipt).where(Receipt.order_id == order_id))
    if row is None:
        row = Receipt(
            order_id=order.id, user_id=order.user_id, status="pending", created_at=links.now
        )
        try:
            async with session.begin_nested():
                session.add(row)
        except IntegrityError:  # asked twice at once
            row = await session.scalar(select(Receipt).where(Receipt.order_id == order_id))
            assert row is not None
        else:
            uow.outbox.enqueue(
                "invoices.receipt", job_id=receipt_job_id(order.id), order_id=order.id
            )
    return receipt_out(row, links=links, caller=caller)


async def get_receipt(
    session: AsyncSession, *, caller: Caller, order_id: int, links: Links
) -> ReceiptOut:
    await order_of(session, order_id=order_id, caller=caller)
    row = await session.scalar(select(Receipt).where(Receipt.order_id == order_id))
    if row is None:
        raise ReceiptNotFound()
    return receipt_out(row, links=links, caller=caller)
