"""QUALITY 6 for payments: a worker SIGKILLed in the middle of a refund job (the gateway has the
request, our commit has not happened) -> arq runs the job again on another worker and the refund
happens once: one refund at the gateway, one ledger reversal, one notification.

arq re-runs a job whose worker died once its in-progress key expires (the longest task timeout
+ 10 s). The workers here run `ShortRefundWorker` (jobs/worker.py's settings with only the
refund task, its timeout 5 s), so the re-run comes 15 s after the crash.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, select

from models.commerce.ledger import LedgerTransaction
from models.commerce.payments import Refund
from models.notify.notifications import Notification
from server.runtime import Runtime
from tests.fakes.alipay import FakeAlipay
from tests.system.harness import (
    ProcessGroup,
    WorkerProcess,
    environment,
    eventually,
    one_task_worker,
    start_arq_worker,
)
from tests.system.payments import HangingRefunds, paid_order_with_refund, runtime

__all__ = ["runtime"]

SHORT_WORKER = "tests.system.test_payments_worker_crash.ShortRefundWorker"


def __getattr__(name: str) -> type:
    """`arq tests.system.test_payments_worker_crash.ShortRefundWorker`, in the worker process."""
    if name != "ShortRefundWorker":
        raise AttributeError(name)
    return one_task_worker(name, "payments.refund", timeout=5)


async def short_worker(processes: ProcessGroup, env: dict[str, str], redis: Any) -> WorkerProcess:
    return await start_arq_worker(processes, env, redis, SHORT_WORKER)


async def test_a_refund_job_killed_mid_call_refunds_once(
    processes: ProcessGroup,
    system_settings: dict[str, Any],
    check_redis: Any,
    runtime: Runtime,
    alipay: FakeAlipay,
) -> None:
    gateway = HangingRefunds(alipay)
    env = environment({**system_settings, **alipay.settings()})
    order_id, refund_id = await paid_order_with_refund(runtime, alipay)

    first = await short_worker(processes, env, check_redis)
    await asyncio.wait_for(gateway.first_taken.wait(), timeout=30)
    await first.kill()  # Alipay has the refund; our side never heard back nor committed
    async with runtime.db.read() as session:
        assert (await session.get(Refund, refund_id)).status == "pending"  # type: ignore[union-attr]

    await short_worker(processes, env, check_redis)

    async def refunded() -> bool:
        async with runtime.db.read() as session:
            refund = await session.get(Refund, refund_id)
            return refund is not None and refund.status == "succeeded"

    await eventually(refunded, within=60, what="the refund settled by the re-run job")
    async with runtime.db.read() as session:
        reversals = await session.scalar(
            select(func.count())
            .select_from(LedgerTransaction)
            .where(LedgerTransaction.reference.like(f"order:{order_id}:%"))
        )
        told = await session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.type == "order.refunded")
        )
    assert gateway.calls == 2 and len(alipay.refunds) == 1
    assert (reversals, told) == (1, 1)
