"""Refunding a plan order item in full ends what it bought; a partial refund keeps access."""

from __future__ import annotations

from datetime import timedelta

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from jobs.subscriptions import renew_due
from models.commerce.subscriptions import Subscription, SubscriptionEvent
from server.commerce.subscriptions import service
from server.commerce.subscriptions.refunds import end_refunded
from server.runtime import Runtime
from tests.helpers.earnings import refund, sell
from tests.helpers.subscriptions import MovableClock, make_plan, member, plan_readable


async def _subscription(runtime: Runtime, user_id: int) -> Subscription:
    async with runtime.db.read() as session:
        sub = await session.scalar(select(Subscription).where(Subscription.user_id == user_id))
    assert sub is not None
    return sub


async def _history(runtime: Runtime, sub_id: int) -> list[tuple[str, str | None, str | None]]:
    async with runtime.db.read() as session:
        rows = await session.execute(
            select(SubscriptionEvent.kind, SubscriptionEvent.reference, SubscriptionEvent.detail)
            .where(SubscriptionEvent.subscription_id == sub_id)
            .order_by(SubscriptionEvent.id)
        )
    return [(kind, reference, (detail or {}).get("reason")) for kind, reference, detail in rows]


async def test_a_full_refund_revokes_the_period_and_cancels_the_subscription(
    api: TestClient, runtime: Runtime, clock: MovableClock
) -> None:
    reader = await member(api)
    plan = await make_plan(runtime, creator_id=None, price=3000)
    order_id = await sell(runtime, buyer_id=reader.id, product_id=plan, at=clock.now())
    assert await plan_readable(runtime, user_id=reader.id, plan_id=plan, at=clock.now())

    later = clock.move(days=3)
    await refund(runtime, order_id=order_id, amount=3000, at=later)
    assert not await plan_readable(runtime, user_id=reader.id, plan_id=plan, at=later)
    sub = await _subscription(runtime, reader.id)
    assert (sub.status, sub.live_plan_id, sub.ended_at) == ("cancelled", None, later)
    kinds = await _history(runtime, sub.id)
    assert kinds[-1] == ("cancelled", f"refund:order_item:{_item_of(kinds)}", "order refunded")
    # Nothing is left for the renewal job, and the plan can be bought again.
    clock.at = sub.current_period_end
    assert await renew_due({"runtime": runtime}) == {}
    await sell(runtime, buyer_id=reader.id, product_id=plan, at=clock.now())
    assert await plan_readable(runtime, user_id=reader.id, plan_id=plan, at=clock.now())


def _item_of(history: list[tuple[str, str | None, str | None]]) -> str:
    started = next(reference for kind, reference, _ in history if kind == "started")
    assert started is not None
    return started.removeprefix("order_item:")


async def test_a_partial_refund_keeps_access(
    api: TestClient, runtime: Runtime, clock: MovableClock
) -> None:
    reader = await member(api)
    plan = await make_plan(runtime, creator_id=None, price=3000)
    order_id = await sell(runtime, buyer_id=reader.id, product_id=plan, at=clock.now())
    await refund(runtime, order_id=order_id, amount=1000, at=clock.move(days=1))
    assert await plan_readable(runtime, user_id=reader.id, plan_id=plan, at=clock.now())
    sub = await _subscription(runtime, reader.id)
    assert (sub.status, sub.live_plan_id) == ("active", plan)
    assert [kind for kind, _, _ in await _history(runtime, sub.id)] == ["started"]


async def test_a_full_refund_during_grace_ends_the_grace_too(
    api: TestClient, runtime: Runtime, clock: MovableClock
) -> None:
    reader = await member(api)
    plan = await make_plan(runtime, creator_id=None, price=3000)
    order_id = await sell(runtime, buyer_id=reader.id, product_id=plan, at=clock.now())
    sub = await _subscription(runtime, reader.id)
    async with runtime.db.unit_of_work() as uow:
        locked = await uow.session.get(Subscription, sub.id)
        assert locked is not None
        locked.renew_with = "wallet"  # an empty wallet: the renewal fails into grace
    clock.at = sub.current_period_end - timedelta(hours=1)
    assert await renew_due({"runtime": runtime}) == {"past_due": 1}
    in_grace = sub.current_period_end + timedelta(days=1)
    assert await plan_readable(runtime, user_id=reader.id, plan_id=plan, at=in_grace)

    await refund(runtime, order_id=order_id, amount=3000, at=clock.now())
    assert not await plan_readable(runtime, user_id=reader.id, plan_id=plan, at=in_grace)
    assert not await plan_readable(runtime, user_id=reader.id, plan_id=plan, at=clock.now())
    assert (await _subscription(runtime, reader.id)).status == "cancelled"


async def test_refunding_a_period_of_an_ended_subscription_revokes_it_once(
    api: TestClient, runtime: Runtime, clock: MovableClock
) -> None:
    reader = await member(api)
    plan = await make_plan(runtime, creator_id=None, price=3000)
    order_id = await sell(runtime, buyer_id=reader.id, product_id=plan, at=clock.now())
    sub = await _subscription(runtime, reader.id)
    async with runtime.db.unit_of_work() as uow:
        locked = await service.lock(uow, sub.id)
        await service.end(uow, locked, status="expired", now=clock.now(), reason="test")
    item = _item_of(await _history(runtime, sub.id))
    await refund(runtime, order_id=order_id, amount=3000, at=clock.move(hours=1))
    async with runtime.db.unit_of_work() as uow:  # again: nothing more happens
        again = await end_refunded(uow, order_item_id=int(item), now=clock.now())
        assert again == sub.id
        assert await end_refunded(uow, order_item_id=-1, now=clock.now()) is None
    history = await _history(runtime, sub.id)
    assert [kind for kind, _, _ in history] == ["started", "expired", "period_refunded"]
    assert (await _subscription(runtime, reader.id)).status == "expired"
    assert not await plan_readable(runtime, user_id=reader.id, plan_id=plan, at=clock.now())
