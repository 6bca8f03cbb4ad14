"""QUALITY 6 for delivery: a worker SIGKILLed in the middle of an `orders.fulfil` job (the order
paid and its money booked, the delivery not committed) -> arq runs the job again on another
worker and the order is delivered once: the credits once, the buyer told once, the money
invariants intact.

The job is held inside its transaction by a lock the test keeps on the order row, so the kill
lands mid-job for certain. The workers run `ShortFulfilWorker` (jobs/worker.py's settings with
only the delivery task, its timeout 5 s): arq re-runs a job whose worker died once its
in-progress key expires (that timeout + 10 s).
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from jobs.sinks import arq_job_id
from models.commerce.ledger import LedgerTransaction
from models.commerce.orders import Order
from models.notify.notifications import Notification
from server.commerce.orders import fulfilment
from server.commerce.payments import service as payments
from server.commerce.payments.gateways.base import Notice
from server.commerce.wallet import service as wallet
from server.runtime import Runtime
from tests.invariants import assert_money_invariants
from tests.system.harness import (
    ProcessGroup,
    WorkerProcess,
    environment,
    eventually,
    one_task_worker,
    start_arq_worker,
)
from tests.system.payments import pending_payment, runtime

__all__ = ["runtime"]

SHORT_WORKER = "tests.system.test_payments_delivery_crash.ShortFulfilWorker"


def __getattr__(name: str) -> type:
    """`arq tests.system.test_payments_delivery_crash.ShortFulfilWorker`, in the worker process."""
    if name != "ShortFulfilWorker":
        raise AttributeError(name)
    return one_task_worker(name, fulfilment.FULFIL, timeout=5)


async def short_worker(processes: ProcessGroup, env: dict[str, str], redis: Any) -> WorkerProcess:
    return await start_arq_worker(processes, env, redis, SHORT_WORKER)


async def test_a_delivery_job_killed_mid_transaction_delivers_once(
    processes: ProcessGroup,
    system_settings: dict[str, Any],
    check_redis: Redis,
    runtime: Runtime,
    engine: AsyncEngine,
) -> None:
    env = environment(system_settings)
    buyer, payment = await pending_payment(runtime, email="deliver@example.com", provider="alipay")
    order_id = payment.order_id
    now = runtime.clock.now()
    notice = Notice(
        event_id="2026009:paid",
        kind="paid",
        out_trade_no=payment.out_trade_no,
        provider_txn_id="2026009",
        amount=600,
        currency="CNY",
        paid_at=now,
    )
    async with runtime.db.unit_of_work() as uow:
        outcome = await payments.apply_notice(
            uow, provider="alipay", notice=notice, callback=None, now=now
        )
    assert outcome == "paid"
    job_id = arq_job_id(runtime.settings, fulfilment.fulfil_job_id(order_id))
    in_progress = f"arq:in-progress:{job_id}"

    async with engine.connect() as holder:
        # The order row locked: the job takes it first thing, so it waits mid-transaction.
        lock = text("SELECT id FROM orders WHERE id = :id FOR UPDATE")
        await holder.execute(lock, {"id": order_id})
        first = await short_worker(processes, env, check_redis)

        async def started() -> bool:
            return bool(await check_redis.exists(in_progress))

        await eventually(started, within=30, what="the delivery job under way")
        await first.kill()
        await holder.rollback()

    async with runtime.db.read() as session:
        order = await session.get(Order, order_id)
        assert order is not None and order.status == "paid"  # nothing of the job committed
        assert await wallet.balance(session, user_id=buyer) == 0

    await short_worker(processes, env, check_redis)

    async def delivered() -> bool:
        async with runtime.db.read() as session:
            order = await session.get(Order, order_id)
            return order is not None and order.status == "fulfilled"

    await eventually(delivered, within=60, what="the order delivered by the re-run job")
    async with runtime.db.read() as session:
        assert await wallet.balance(session, user_id=buyer) == 100
        recharges = await session.scalar(
            select(func.count())
            .select_from(LedgerTransaction)
            .where(LedgerTransaction.kind == "recharge")
        )
        told = await session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.type == "order.paid", Notification.user_id == buyer)
        )
    assert (recharges, told) == (1, 1)
    await assert_money_invariants(engine)
