"""QUALITY 6 for payments: a worker SIGKILLed in the middle of a refund job (the gateway has the
request, our commit has not happened) -> arq runs the job again on another worker and the refund
happens once: one refund at the gateway, one ledger reversal, one notification.

arq re-runs a job whose worker died once its in-progress key expires (the longest task timeout
+ 10 s). The workers here run `ShortRefundWorker` (jobs/worker.py's settings with only the
refund task, its timeout 5 s), so the re-run comes 15 s after the crash.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import func, select

from jobs.sinks import ArqJobSink
from models.catalog import Product
from models.ledger import LedgerTransaction
from models.notifications import Notification
from models.payments import Refund
from server.auth import service as auth_service
from server.orders import service as orders
from server.outbox import Event
from server.payments import service as payments
from server.payments.gateways.base import Notice
from server.runtime import Runtime
from tests.conftest import make_settings
from tests.fakes.alipay import FakeAlipay
from tests.fakes.base import start
from tests.system.harness import ProcessGroup, WorkerProcess, environment, eventually

SHORT_WORKER = "tests.system.test_payments_worker_crash.ShortRefundWorker"


def __getattr__(name: str) -> type:
    """`arq tests.system.test_payments_worker_crash.ShortRefundWorker`, in the worker process."""
    if name != "ShortRefundWorker":
        raise AttributeError(name)
    from arq.worker import func

    from jobs.registry import FUNCTIONS
    from jobs.worker import WorkerSettings

    fields = {k: v for k, v in vars(WorkerSettings).items() if not k.startswith("__")}
    refund = FUNCTIONS["payments.refund"]
    fields.update(
        functions=[func(refund.coroutine, name=refund.name, timeout=5, max_tries=20)],
        cron_jobs=[],
    )
    return type(name, (), fields)


class Events:
    async def send(self, event: Event) -> None:
        pass


class HangingRefunds:
    """Alipay takes the first refund request, then never answers it (the worker dies waiting)."""

    def __init__(self, fake: FakeAlipay) -> None:
        self.fake = fake
        self.calls = 0
        self.first_taken = asyncio.Event()
        self._original = fake._gateway
        fake.on("POST", "/gateway.do", self.gateway)

    async def gateway(self, request: web.Request, groups: dict[str, str]) -> web.StreamResponse:
        body = await request.read()
        answer = await self._original(request, groups)
        if b"alipay.trade.refund" in body:
            self.calls += 1
            if self.calls == 1:
                self.first_taken.set()
                await asyncio.sleep(60)
        return answer


@pytest.fixture
async def alipay(aiohttp_server: Any) -> FakeAlipay:
    fake = FakeAlipay()
    await start(fake, aiohttp_server)
    return fake


@pytest.fixture
async def runtime(database_url: str, alipay: FakeAlipay) -> AsyncIterator[Runtime]:
    settings = make_settings(database_url=database_url, **alipay.settings())
    runtime = await Runtime.open(settings)
    assert runtime.redis is not None
    runtime.attach(jobs=ArqJobSink(runtime.redis, settings), events=Events())
    yield runtime
    await runtime.close()


async def paid_order_with_refund(runtime: Runtime, fake: FakeAlipay) -> tuple[int, int]:
    """A buyer, a paid order (through Alipay) and a refund asked for: (order id, refund id)."""
    now = runtime.clock.now()
    async with runtime.db.unit_of_work() as uow:
        user_id = await auth_service.create_user(
            uow.session,
            runtime.pii,
            email="crash@example.com",
            phone=None,
            password="Secret-pass-1234",
            nickname=None,
            roles=["reader"],
        )
        product = Product(kind="credits", title="积分", price=600, status="active", credits=100)
        uow.session.add(product)
        await uow.session.flush()
        order = await orders.create_order(uow, user_id=user_id, items=[(product.id, 1)])
    async with runtime.db.unit_of_work() as uow:
        _, payment = await payments.open_payment(
            uow, order_id=order.id, user_id=user_id, provider="alipay", now=now, query_after=3600
        )
    fake.trades[payment.out_trade_no] = {
        "trade_no": "2026001",
        "amount": 600,
        "trade_status": "TRADE_SUCCESS",
    }
    notice = Notice(
        event_id="2026001:paid",
        kind="paid",
        out_trade_no=payment.out_trade_no,
        provider_txn_id="2026001",
        amount=600,
        currency="CNY",
        paid_at=now,
    )
    async with runtime.db.unit_of_work() as uow:
        assert (
            await payments.apply_notice(
                uow, provider="alipay", notice=notice, callback=None, now=now
            )
            == "paid"
        )
    async with runtime.db.unit_of_work() as uow:
        refund = await payments.request_refund(
            uow,
            order_id=order.id,
            actor_id=user_id,
            admin=False,
            amount=None,
            reason="crash test",
            window_days=7,
            now=now,
        )
    return order.id, refund.id


async def short_worker(processes: ProcessGroup, env: dict[str, str], redis: Any) -> WorkerProcess:
    process = WorkerProcess(processes.name("worker"), env, processes.log_dir, redis=redis)
    process.argv = [sys.executable, "-m", "arq", SHORT_WORKER]
    await processes.start(process, within=60)
    return process


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
