"""Invoice requests and PDF receipts: ask the e-invoice provider, draw our own receipts."""

from __future__ import annotations

from typing import Any

from arq.worker import Retry

from jobs.registry import runtime_of, task
from server.commerce.invoices import issuing
from server.commerce.invoices.provider import provider_from_settings

# The longest wait between two attempts, in seconds.
MAX_BACKOFF = 3600


@task("invoices.issue", timeout=60, max_tries=20)
async def issue_invoice(ctx: dict[str, Any], *, invoice_id: int) -> str:
    """Have the provider issue one requested invoice; retried with backoff while it is down."""
    runtime = runtime_of(ctx)
    outcome = await issuing.issue_invoice(
        db=runtime.db,
        storage=runtime.storage,
        pii=runtime.pii,
        provider=provider_from_settings(runtime.settings),
        invoice_id=invoice_id,
        max_attempts=runtime.settings.invoice_issue_attempts,
        now=runtime.clock.now(),
    )
    if outcome == "retry":
        tries = int(ctx.get("job_try", 1))
        base = runtime.settings.invoice_retry_base_seconds
        raise Retry(defer=min(MAX_BACKOFF, base * 2 ** (tries - 1)))
    return outcome


@task("invoices.receipt", timeout=60)
async def make_receipt(ctx: dict[str, Any], *, order_id: int) -> bool:
    """Draw the PDF receipt of a paid order and keep it in storage."""
    runtime = runtime_of(ctx)
    return await issuing.make_receipt(
        db=runtime.db,
        storage=runtime.storage,
        order_id=order_id,
        seller=runtime.settings.receipt_seller_name,
        tz=runtime.settings.business_tz,
        now=runtime.clock.now(),
    )


TASKS = (issue_invoice, make_receipt)
