"""Payment tasks: query fallback, refunds at the gateway, reconciliation."""

from __future__ import annotations

from datetime import date
from typing import Any

from arq.worker import Retry

from jobs.registry import runtime_of, schedule, task
from server.commerce.payments import followup, reconciliation
from server.gateway_clients.errors import GatewayError

# Refunds the gateway is still processing are asked about again after this long.
REFUND_POLL_SECONDS = 60


@task("payments.query", timeout=30)
async def query_payment(ctx: dict[str, Any], *, payment_id: int) -> str:
    """Ask the gateway about a payment that got no callback (deferred at payment creation)."""
    try:
        return await followup.query_payment(runtime_of(ctx), payment_id=payment_id)
    except GatewayError as exc:
        raise Retry(defer=30 * ctx.get("job_try", 1)) from exc


@task("payments.query_silent", timeout=300, max_tries=1)
async def query_silent(ctx: dict[str, Any]) -> int:
    """The safety net: query every payment still silent after the query delay."""
    runtime = runtime_of(ctx)
    asked = 0
    for payment_id in await followup.silent_payments(runtime):
        try:
            await followup.query_payment(runtime, payment_id=payment_id)
        except GatewayError:
            continue
        asked += 1
    return asked


@task("payments.refund", timeout=30, max_tries=20)
async def refund(ctx: dict[str, Any], *, refund_id: int) -> str:
    """Ask the gateway to refund; poll while it is processing; settle the order when it says."""
    try:
        status = await followup.carry_out_refund(runtime_of(ctx), refund_id=refund_id)
    except GatewayError as exc:
        raise Retry(defer=min(30 * ctx.get("job_try", 1), 600)) from exc
    if status == "processing":
        raise Retry(defer=REFUND_POLL_SECONDS)
    return status


@task("payments.reconcile", timeout=600, max_tries=3)
async def reconcile(ctx: dict[str, Any], *, day: str | None = None) -> dict[str, str]:
    """Reconcile yesterday's (business day) bills of every gateway, or the given ISO date's."""
    return await reconciliation.reconcile_all(
        runtime_of(ctx), day=date.fromisoformat(day) if day else None
    )


TASKS = (query_payment, query_silent, refund, reconcile)
SCHEDULES = (
    schedule(query_silent, minute=set(range(0, 60, 5)), second=15),
    # 02:30 UTC = 10:30 in Asia/Shanghai: gateways publish the previous day's bills by ~09:00.
    schedule(reconcile, hour=2, minute=30, second=0),
)
