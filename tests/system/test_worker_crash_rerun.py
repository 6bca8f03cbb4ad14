"""A worker running the real task set (`python -m jobs worker`, every task and cron schedule,
their real timeouts) is killed in the middle of a refund: another worker runs the refund again
within a minute, and the refund happens once.

arq alone claims a started job for the worker's longest task timeout + 10 s (half an hour with
the daily erasure sweep on this queue); the worker's lease (jobs/arq_worker.py) makes the claim
of a killed worker run out in LEASE_SECONDS instead.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from jobs.arq_worker import LEASE_SECONDS
from jobs.tasks import FUNCTIONS
from jobs.worker import WorkerSettings
from models.commerce.ledger import LedgerTransaction
from models.commerce.payments import Refund
from server.runtime import Runtime
from tests.fakes.alipay import FakeAlipay
from tests.invariants import assert_money_invariants
from tests.system.conftest import StartWorker
from tests.system.harness import eventually
from tests.system.payments import HangingRefunds, paid_order_with_refund, runtime

__all__ = ["runtime"]


def test_the_default_worker_runs_the_full_task_set_with_a_half_hour_task_among_them() -> None:
    # What makes the rerun below a proof: arq alone would hold the killed job this long.
    assert {f.name for f in WorkerSettings.functions} >= {"payments.refund", "accounts.erase_due"}
    assert max(f.timeout_s or 0 for f in WorkerSettings.functions) + 10 > 30 * 60
    assert FUNCTIONS["payments.refund"].timeout_s == 30


async def test_a_refund_killed_mid_call_on_the_real_worker_runs_again_within_a_minute_once(
    start_worker: StartWorker,
    system_settings: dict[str, Any],
    runtime: Runtime,
    alipay: FakeAlipay,
    engine: AsyncEngine,
) -> None:
    gateway = HangingRefunds(alipay)
    order_id, refund_id = await paid_order_with_refund(runtime, alipay)

    first = await start_worker(within=60, **alipay.settings())
    await asyncio.wait_for(gateway.first_taken.wait(), timeout=30)
    await first.kill()  # Alipay has the refund; our side never heard back nor committed
    killed_at = time.monotonic()
    async with runtime.db.read() as session:
        assert (await session.get(Refund, refund_id)).status == "pending"  # type: ignore[union-attr]

    await start_worker(within=60, **alipay.settings())

    async def refunded() -> bool:
        async with runtime.db.read() as session:
            refund = await session.get(Refund, refund_id)
            return refund is not None and refund.status == "succeeded"

    await eventually(refunded, within=90, what="the refund settled by the re-run job")
    rerun_after = time.monotonic() - killed_at
    assert rerun_after < 60, f"the refund ran again {rerun_after:.0f} s after the crash"
    assert rerun_after > LEASE_SECONDS / 2, "not before the killed worker's claim ran out"

    async with runtime.db.read() as session:
        reversals = await session.scalar(
            select(func.count())
            .select_from(LedgerTransaction)
            .where(LedgerTransaction.reference.like(f"order:{order_id}:%"))
        )
    assert gateway.calls == 2 and len(alipay.refunds) == 1
    assert reversals == 1
    await assert_money_invariants(engine)
