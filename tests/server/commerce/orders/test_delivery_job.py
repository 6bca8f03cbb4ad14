"""Delivery in a job: the payment makes the order `paid` and books the money; the
`orders.fulfil` job it queued delivers it in a real arq worker; a refund before delivery calls
the delivery off; the sweep delivers an order whose job was lost."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select

from jobs import orders as order_jobs
from jobs.sinks import arq_job_id, queue_names
from models.commerce.catalog import Product
from models.commerce.earnings import Earning
from models.commerce.ledger import LedgerTransaction
from models.content.items import Entitlement
from server.commerce.ledger import audit
from server.commerce.orders import fulfilment, service
from server.commerce.orders.errors import IllegalTransition
from server.commerce.wallet import service as wallet
from server.runtime import Runtime
from server.settings import Settings
from tests.helpers.env import relaying_runtime
from tests.helpers.orders import (
    RecordingEvents,
    add_buyer,
    add_product,
    count,
    order_row,
    paid_content,
)
from tests.helpers.subscriptions import MovableClock
from tests.jobs.test_worker import queued_job_ids, run_burst

pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")


@pytest.fixture
def events() -> RecordingEvents:
    return RecordingEvents()


@pytest.fixture
async def runtime(settings: Settings, events: RecordingEvents) -> AsyncIterator[Runtime]:
    async with relaying_runtime(settings, events) as runtime:
        yield runtime


async def paid_order(runtime: Runtime, buyer: int, *products: int) -> int:
    """An order of one of each product, paid (`mark_paid`, as a callback does), not delivered.
    Its timeout job is due at once, so that a burst worker does not wait for it."""
    async with runtime.db.unit_of_work() as uow:
        order = await service.create_order(
            uow,
            user_id=buyer,
            items=[(p, 1) for p in products],
            now=runtime.clock.now(),
            timeout_seconds=1,
        )
        order_id, total = order.id, order.total
    async with runtime.db.unit_of_work() as uow:
        outcome = await service.mark_paid(
            uow,
            order_id=order_id,
            provider="sandbox",
            amount=total,
            currency="CNY",
            paid_at=runtime.clock.now(),
            now=runtime.clock.now(),
        )
    assert outcome == "paid"
    return order_id


async def credits_of(runtime: Runtime, user_id: int) -> int:
    async with runtime.db.read() as session:
        return await wallet.balance(session, user_id=user_id)


async def fulfil(runtime: Runtime, order_id: int) -> bool:
    async with runtime.db.unit_of_work() as uow:
        return await fulfilment.fulfil_paid(uow, order_id=order_id, now=runtime.clock.now())


async def ledger_is_sound(runtime: Runtime) -> None:
    async with runtime.db.read() as session:
        result = await audit.audit(session)
    assert result.ok, result


async def test_the_payment_books_the_money_and_a_worker_delivers_the_order(
    runtime: Runtime, settings: Settings, redis: Redis, events: RecordingEvents
) -> None:
    creator, buyer = await add_buyer(runtime), await add_buyer(runtime)
    item = await paid_content(runtime, creator)
    article = await add_product(
        runtime, kind="content", price=990, credits=None, content_id=item, creator_id=creator
    )
    pack = await add_product(runtime, price=600, credits=100)
    order_id = await paid_order(runtime, buyer, article, pack)

    # Paid and booked at once; nothing delivered yet, the delivery queued.
    assert (await order_row(runtime, order_id)).status == "paid"
    booked = select(func.count()).where(
        LedgerTransaction.kind == "payment", LedgerTransaction.reference == f"order:{order_id}"
    )
    assert await count(runtime, booked) == 1
    assert await credits_of(runtime, buyer) == 0
    assert await count(runtime, select(func.count()).select_from(Entitlement)) == 0
    assert arq_job_id(settings, fulfilment.fulfil_job_id(order_id)) in await queued_job_ids(
        redis, settings
    )
    assert [e.data["status"] for e in events.of("order.updated")] == ["pending_payment", "paid"]

    worker = await run_burst(settings, {"runtime": runtime})

    assert worker.jobs_failed == 0
    order = await order_row(runtime, order_id)
    assert order.status == "fulfilled" and order.fulfilled_at is not None
    assert await credits_of(runtime, buyer) == 100
    assert await count(runtime, select(func.count()).select_from(Entitlement)) == 1
    assert await count(runtime, select(func.count()).select_from(Earning)) == 1
    statuses = [e.data["status"] for e in events.of("order.updated")]
    assert statuses == ["pending_payment", "paid", "fulfilled"]
    # arq may run a job twice: the second run finds the order delivered.
    assert not await fulfil(runtime, order_id)
    assert await credits_of(runtime, buyer) == 100
    await ledger_is_sound(runtime)


async def test_a_refund_before_delivery_calls_the_delivery_off(runtime: Runtime) -> None:
    buyer = await add_buyer(runtime)
    pack = await add_product(runtime, price=600, credits=100)
    # Credits the buyer holds from an earlier, delivered order are not the refund's to take.
    earlier = await paid_order(runtime, buyer, pack)
    assert await fulfil(runtime, earlier)
    order_id = await paid_order(runtime, buyer, pack)

    async with runtime.db.unit_of_work() as uow:
        with pytest.raises(IllegalTransition):  # in part: only once delivered
            await service.begin_refund(
                uow, order_id=order_id, amount=100, reason="part", actor_id=None
            )
    async with runtime.db.unit_of_work() as uow:
        await service.begin_refund(
            uow, order_id=order_id, amount=600, reason="不要了", actor_id=buyer
        )
    assert not await fulfil(runtime, order_id)  # the queued job finds it refunding
    async with runtime.db.unit_of_work() as uow:
        await service.complete_refund(uow, order_id=order_id, amount=600, refund_ref="r1")

    order = await order_row(runtime, order_id)
    assert (order.status, order.refunded_amount, order.fulfilled_at) == ("refunded", 600, None)
    assert not await fulfil(runtime, order_id)
    assert await credits_of(runtime, buyer) == 100  # the earlier order's, untouched
    await ledger_is_sound(runtime)


async def test_goods_refunded_before_delivery_go_back_to_stock(runtime: Runtime) -> None:
    buyer = await add_buyer(runtime)
    mug = await add_product(runtime, kind="physical", price=2500, stock=5, credits=None)
    order_id = await paid_order(runtime, buyer, mug)
    async with runtime.db.unit_of_work() as uow:
        await service.begin_refund(uow, order_id=order_id, amount=2500, reason="x", actor_id=None)
    for _ in range(2):  # the gateway's confirmation, twice
        async with runtime.db.unit_of_work() as uow:
            await service.complete_refund(uow, order_id=order_id, amount=2500, refund_ref="r1")
    async with runtime.db.read() as session:
        product = await session.get(Product, mug)
        assert product is not None and product.stock == 5
    assert not await fulfil(runtime, order_id)


async def test_a_failed_refund_of_an_undelivered_order_queues_its_delivery_again(
    runtime: Runtime, settings: Settings, redis: Redis
) -> None:
    buyer = await add_buyer(runtime)
    pack = await add_product(runtime, price=600, credits=100)
    order_id = await paid_order(runtime, buyer, pack)
    async with runtime.db.unit_of_work() as uow:
        await service.begin_refund(uow, order_id=order_id, amount=600, reason="x", actor_id=None)
    await run_burst(settings, {"runtime": runtime})  # the delivery job: called off
    assert (await order_row(runtime, order_id)).status == "refunding"
    assert await credits_of(runtime, buyer) == 0

    async with runtime.db.unit_of_work() as uow:
        await service.fail_refund(uow, order_id=order_id, amount=600)
    assert (await order_row(runtime, order_id)).status == "paid"
    assert arq_job_id(settings, fulfilment.fulfil_job_id(order_id)) in await queued_job_ids(
        redis, settings
    )
    await run_burst(settings, {"runtime": runtime})
    assert (await order_row(runtime, order_id)).status == "fulfilled"
    assert await credits_of(runtime, buyer) == 100


async def test_part_of_an_undelivered_order_refunded_at_the_gateway_delivers_the_rest(
    runtime: Runtime,
) -> None:
    buyer = await add_buyer(runtime)
    pack = await add_product(runtime, price=600, credits=100)
    order_id = await paid_order(runtime, buyer, pack)
    async with runtime.db.unit_of_work() as uow:
        await service.complete_refund(uow, order_id=order_id, amount=300, refund_ref="dash")
    order = await order_row(runtime, order_id)
    assert (order.status, order.refunded_amount) == ("partially_refunded", 300)
    assert order.fulfilled_at is not None
    assert await credits_of(runtime, buyer) == 50  # delivered, then half taken back
    assert not await fulfil(runtime, order_id)
    await ledger_is_sound(runtime)


async def test_the_sweep_delivers_an_order_whose_job_was_lost(
    runtime: Runtime, settings: Settings, redis: Redis
) -> None:
    clock = MovableClock(datetime.now(UTC))
    runtime.clock = clock
    buyer = await add_buyer(runtime)
    pack = await add_product(runtime, price=600, credits=100)
    lost = await paid_order(runtime, buyer, pack)
    # The worker died with the job, and Redis lost the queue.
    assert await redis.delete(queue_names(settings)[None]) == 1
    clock.move(seconds=settings.order_fulfil_sweep_after_seconds - 1)
    fresh = await paid_order(runtime, buyer, pack)

    ctx = {"runtime": runtime}
    assert await order_jobs.fulfil_due(ctx) == 0  # not overdue yet
    clock.move(seconds=2)
    assert await order_jobs.fulfil_due(ctx) == 1
    assert (await order_row(runtime, lost)).status == "fulfilled"
    assert (await order_row(runtime, fresh)).status == "paid"  # its own job is still coming
    assert await credits_of(runtime, buyer) == 100
    await ledger_is_sound(runtime)
