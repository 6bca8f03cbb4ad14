"""Wallet and in-app purchase tasks: the ledger's self-check and Play acknowledgements."""

from __future__ import annotations

from typing import Any

import structlog
from arq import Retry

from jobs import recovery
from jobs.registry import runtime_of, schedule, task
from models.commerce.iap import IapPurchase
from server.commerce.iap.stores.base import StoreUnavailable
from server.commerce.iap.stores.registry import stores
from server.commerce.ledger.audit import audit
from server.http.errors import ApiError

log = structlog.get_logger("wallet")


@task("ledger.audit", timeout=600, max_tries=1)
async def ledger_audit(ctx: dict[str, Any]) -> dict[str, Any]:
    """Check the ledger's invariants; an error line names what drifted."""
    async with runtime_of(ctx).db.read() as session:
        found = await audit(session)
    summary = {
        "accounts": found.accounts,
        "drifted": sorted(found.drifted),
        "overdrawn": found.overdrawn,
        "unbalanced": found.unbalanced,
    }
    if found.ok:
        log.info("ledger.audit", accounts=found.accounts)
    else:
        log.error("ledger.imbalance", **summary)
    return summary


@task("iap.acknowledge", timeout=60, max_tries=8)
async def acknowledge(
    ctx: dict[str, Any], *, purchase_id: int, outbox_id: int | None = None
) -> str:
    """Acknowledge a Google Play purchase its redeem could not (Play refunds unacknowledged
    purchases after three days). Reads the purchase first: running twice is harmless. The job's
    outbox row is kept until an answer other than "try again later"."""
    outcome = await _acknowledge(ctx, purchase_id)
    await recovery.acknowledge(runtime_of(ctx), outbox_id)
    return outcome


async def _acknowledge(ctx: dict[str, Any], purchase_id: int) -> str:
    runtime = runtime_of(ctx)
    async with runtime.db.read() as session:
        purchase = await session.get(IapPurchase, purchase_id)
    play = stores(runtime).get("google_play")
    if purchase is None or purchase.store != "google_play" or play is None:
        return "skipped"
    if purchase.status != "granted":
        return "refunded"
    proof = {
        "product_id": purchase.store_product_id,
        "purchase_token": purchase.details.get("purchase_token"),
    }
    try:
        txn = await play.verify(proof)
        if txn.details.get("acknowledged"):
            return "already"
        await play.acknowledge(txn, proof)
    except StoreUnavailable as exc:
        raise Retry(defer=60 * ctx.get("job_try", 1)) from exc
    except ApiError as exc:
        log.warning("iap.acknowledge_refused", purchase_id=purchase_id, code=exc.code)
        return "refused"
    return "acknowledged"


TASKS = (ledger_audit, acknowledge)
SCHEDULES = (schedule(ledger_audit, minute=23, second=0),)
