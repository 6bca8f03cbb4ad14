"""The timeout of unpaid orders in real arq workers: the deferred `orders.expire` job per order
and the sweep that catches orders whose job was lost."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from arq.jobs import Job as ArqJob
from redis.asyncio import Redis

from jobs.sinks import arq_job_id
from models.commerce.catalog import Product
from models.commerce.orders import Order
from server.commerce.orders import service
from server.runtime import Runtime
from server.settings import Settings
from tests.helpers.env import relaying_runtime
from tests.helpers.orders import RecordingEvents, add_buyer, add_product
from tests.jobs.test_worker import queued_job_ids, run_burst

pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    async with relaying_runtime(settings, RecordingEvents()) as runtime:
        yield runtime


async def new_order(runtime: Runtime, product_id: int, *, wait: int) -> int:
    async with runtime.db.unit_of_work() as uow:
        order = await service.create_order(
            uow,
            user_id=await add_buyer(runtime),
            items=[(product_id, 2)],
            now=runtime.clock.now(),
            timeout_seconds=wait,
        )
        return order.id


async def state(runtime: Runtime, order_id: int, product_id: int) -> tuple[str, int | None]:
    async with runtime.db.read() as session:
        order = await session.get(Order, order_id)
        product = await session.get(Product, product_id)
        assert order is not None and product is not None
        return order.status, product.stock


async def test_an_unpaid_order_is_cancelled_by_its_deferred_job(
    runtime: Runtime, settings: Settings, redis: Redis
) -> None:
    mug = await add_product(runtime, kind="physical", price=2500, stock=5, credits=None)
    order_id = await new_order(runtime, mug, wait=1)
    assert await queued_job_ids(redis, settings) == [
        arq_job_id(settings, service.expire_job_id(order_id))
    ]
    assert await state(runtime, order_id, mug) == ("pending_payment", 3)

    worker = await run_burst(settings, {"runtime": runtime})

    assert (worker.jobs_complete, worker.jobs_failed) == (1, 0)
    assert await state(runtime, order_id, mug) == ("cancelled", 5)
    # The job again (arq may run a job twice) finds nothing to do.
    async with runtime.db.unit_of_work() as uow:
        assert not await service.expire(uow, order_id=order_id, now=runtime.clock.now())
    assert await state(runtime, order_id, mug) == ("cancelled", 5)


async def test_a_paid_order_survives_its_timeout_job(
    runtime: Runtime, settings: Settings, redis: Redis
) -> None:
    mug = await add_product(runtime, kind="physical", price=2500, stock=5, credits=None)
    order_id = await new_order(runtime, mug, wait=1)
    async with runtime.db.unit_of_work() as uow:
        outcome = await service.mark_paid(
            uow,
            order_id=order_id,
            provider="sandbox",
            amount=5000,
            currency="CNY",
            paid_at=runtime.clock.now(),
        )
    assert outcome == "paid"
    worker = await run_burst(settings, {"runtime": runtime})
    assert worker.jobs_failed == 0
    job = ArqJob(arq_job_id(settings, service.expire_job_id(order_id)), redis)
    result = await job.result_info()
    assert result is not None and result.success and result.result is False
    assert await state(runtime, order_id, mug) == ("fulfilled", 3)


async def test_the_sweep_cancels_overdue_orders_whose_job_was_lost(
    runtime: Runtime, settings: Settings, redis: Redis
) -> None:
    mug = await add_product(runtime, kind="physical", price=2500, stock=6, credits=None)
    overdue = await new_order(runtime, mug, wait=3600)
    fresh = await new_order(runtime, mug, wait=3600)
    await redis.delete(*await redis.keys(f"*{settings.key_prefix}*"))  # the jobs are lost
    async with runtime.db.unit_of_work() as uow:
        order = await uow.session.get(Order, overdue)
        assert order is not None
        order.expires_at = runtime.clock.now() - timedelta(seconds=1)
    assert runtime.redis is not None
    await runtime.redis.enqueue_job("orders.expire_due", _queue_name=settings.channel("queue"))

    worker = await run_burst(settings, {"runtime": runtime})

    assert (worker.jobs_complete, worker.jobs_failed) == (1, 0)
    assert (await state(runtime, overdue, mug)) == ("cancelled", 4)
    assert (await state(runtime, fresh, mug)) == ("pending_payment", 4)
