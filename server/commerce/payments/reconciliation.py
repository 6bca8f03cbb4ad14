"""Daily reconciliation: each gateway's bill for a business day against our payments and refunds.

A run per (provider, business day); mismatches are stored and admins are notified. Running a
day again replaces a failed run and leaves a finished one alone.
"""

from __future__ import annotations

from datetime import date, datetime

import structlog
from sqlalchemy import String, cast, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.commerce.ledger import LedgerTransaction
from models.commerce.payments import Payment, ReconciliationMismatch, ReconciliationRun, Refund
from models.identity.users import User
from server.business_time import business_day_bounds, previous_business_day
from server.commerce.orders import fulfilment
from server.commerce.payments.gateways.base import BillLine
from server.commerce.payments.gateways.registry import gateways
from server.db import UnitOfWork
from server.gateway_clients.errors import GatewayError
from server.notify.notifications import service as notifications
from server.runtime import Runtime

log = structlog.get_logger(__name__)
Amounts = dict[tuple[str, str], int]


async def reconcile_all(runtime: Runtime, *, day: date | None = None) -> dict[str, str]:
    """Reconcile every gateway that has bills; returns each provider's run status."""
    day = day or previous_business_day(runtime.clock.now(), runtime.settings.business_tz)
    results: dict[str, str] = {}
    for provider in gateways(runtime):
        status = await reconcile(runtime, provider=provider, day=day)
        if status is not None:
            results[provider] = status
    return results


async def reconcile(runtime: Runtime, *, provider: str, day: date) -> str | None:
    async with runtime.db.read() as session:
        done = await session.scalar(
            select(ReconciliationRun.status).where(
                ReconciliationRun.provider == provider, ReconciliationRun.business_date == day
            )
        )
    if done in ("matched", "mismatched"):
        return done
    started = runtime.clock.now()
    try:
        lines = await gateways(runtime)[provider].bill(day)
    except GatewayError as exc:
        log.warning("payments.reconciliation_failed", provider=provider, error=str(exc))
        await _store(runtime, provider, day, started, [], [], error=str(exc)[:255])
        return "failed"
    if lines is None:
        return None
    ours = await _our_records(runtime, provider, day)
    theirs: Amounts = {(line.kind, line.reference): line.amount for line in lines}
    mismatches = compare(ours, theirs) + await _unposted(runtime, provider, day)
    return await _store(runtime, provider, day, started, lines, mismatches)


def compare(ours: Amounts, theirs: Amounts) -> list[ReconciliationMismatch]:
    found: list[ReconciliationMismatch] = []
    for key in sorted(ours.keys() | theirs.keys()):
        mine, bill = ours.get(key), theirs.get(key)
        if mine == bill:
            continue
        kind = (
            "missing_here"
            if mine is None
            else "missing_there"
            if bill is None
            else "amount_differs"
        )
        found.append(
            ReconciliationMismatch(
                kind=kind, reference=key[1][:64], ours=mine, theirs=bill, detail={"line": key[0]}
            )
        )
    return found


async def _our_records(runtime: Runtime, provider: str, day: date) -> Amounts:
    start, end = business_day_bounds(day, runtime.settings.business_tz)
    async with runtime.db.read() as session:
        paid = await session.execute(
            select(Payment.out_trade_no, Payment.amount).where(
                Payment.provider == provider,
                Payment.status == "succeeded",
                Payment.paid_at >= start,
                Payment.paid_at < end,
            )
        )
        refunded = await session.execute(
            select(Refund.out_refund_no, Refund.amount)
            .join(Payment, Payment.id == Refund.payment_id)
            .where(
                Payment.provider == provider,
                Refund.status == "succeeded",
                Refund.completed_at >= start,
                Refund.completed_at < end,
            )
        )
        records: Amounts = {("payment", no): amount for no, amount in paid.all()}
        records.update({("refund", no): amount for no, amount in refunded.all()})
    return records


async def _unposted(runtime: Runtime, provider: str, day: date) -> list[ReconciliationMismatch]:
    """Orders paid through `provider` that day with no payment posting in the ledger."""
    start, end = business_day_bounds(day, runtime.settings.business_tz)
    async with runtime.db.read() as session:
        paid = (
            await session.execute(
                select(Payment.out_trade_no, Payment.amount, Payment.order_id).where(
                    Payment.provider == provider,
                    Payment.status == "succeeded",
                    Payment.paid_at >= start,
                    Payment.paid_at < end,
                )
            )
        ).all()
        references = {f"order:{order_id}" for _, _, order_id in paid}
        posted: set[str] = set()
        for chunk in _chunks(sorted(references), 500):
            found = await session.scalars(
                select(LedgerTransaction.reference).where(
                    LedgerTransaction.kind == fulfilment.PAYMENT,
                    LedgerTransaction.reference.in_(chunk),
                )
            )
            posted.update(found.all())
    return [
        ReconciliationMismatch(kind="missing_in_ledger", reference=no, ours=amount, detail={})
        for no, amount, order_id in paid
        if f"order:{order_id}" not in posted
    ]


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


async def _store(
    runtime: Runtime,
    provider: str,
    day: date,
    started: datetime,
    lines: list[BillLine],
    mismatches: list[ReconciliationMismatch],
    *,
    error: str | None = None,
) -> str:
    status = "failed" if error else "mismatched" if mismatches else "matched"
    async with runtime.db.unit_of_work() as uow:
        run = (
            await uow.session.scalars(
                select(ReconciliationRun)
                .where(
                    ReconciliationRun.provider == provider, ReconciliationRun.business_date == day
                )
                .with_for_update()
            )
        ).one_or_none()
        if run is None:
            run = ReconciliationRun(provider=provider, business_date=day)
            uow.session.add(run)
        elif run.status in ("matched", "mismatched"):
            return run.status
        run.status, run.error, run.started_at = status, error, started
        run.bill_rows, run.mismatched = len(lines), len(mismatches)
        run.matched = len(lines) - sum(1 for m in mismatches if m.theirs is not None)
        run.finished_at = runtime.clock.now()
        await uow.session.flush()
        await uow.session.execute(
            delete(ReconciliationMismatch).where(ReconciliationMismatch.run_id == run.id)
        )
        for mismatch in mismatches:
            mismatch.run_id = run.id
            uow.session.add(mismatch)
        if status != "matched":
            await _report(uow, run)
    return status


async def _admin_ids(session: AsyncSession) -> list[int]:
    """Who is told when money does not add up (the first 50 admins)."""
    admins = await session.scalars(
        select(User.id).where(cast(User.roles, String).like('%"admin"%')).limit(50)
    )
    return list(admins.all())


async def tell_admins(
    uow: UnitOfWork,
    *,
    title: str,
    body: str,
    data: dict[str, object],
    source: str | None = None,
) -> None:
    """Money does not add up: a system announcement to each admin, in the caller's transaction."""
    for admin_id in await _admin_ids(uow.session):
        await notifications.notify(
            uow,
            user_id=admin_id,
            type="system.announcement",
            title=title,
            body=body,
            data=data,
            source=source,
        )


async def _report(uow: UnitOfWork, run: ReconciliationRun) -> None:
    what = f"{run.mismatched} mismatches" if run.status == "mismatched" else "a failed download"
    await tell_admins(
        uow,
        title=f"Reconciliation {run.provider} {run.business_date}: {what}",
        body=run.error or "",
        data={"reconciliation_id": run.id, "provider": run.provider},
    )
