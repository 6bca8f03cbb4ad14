"""Subscriptions: periods, trials, renewals by wallet, grace, expiry, cancel and resume."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from jobs.subscriptions import renew_due
from models.commerce.earnings import Earning
from models.commerce.subscriptions import Subscription
from server.commerce.earnings import service as earnings
from server.commerce.ledger import service as ledger
from server.commerce.subscriptions.periods import add_months, period_end
from server.commerce.wallet import service as wallet
from server.db import UnitOfWork
from server.runtime import Runtime
from tests.helpers.people import call
from tests.helpers.subscriptions import (
    MovableClock,
    buy_period,
    make_plan,
    member,
    notification_types,
    plan_readable,
)
from tests.invariants import assert_money_invariants

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI).astimezone(UTC)


def test_monthly_periods_end_on_the_same_local_day_clamped_to_month_end() -> None:
    anchor = local(2027, 1, 31, 0, 30)  # 2027-01-30 16:30 UTC: the local day is what counts
    assert add_months(anchor, 1, SHANGHAI) == local(2027, 2, 28, 0, 30)
    assert period_end(anchor, interval="month", periods=2, tz=SHANGHAI) == local(2027, 3, 31, 0, 30)
    assert period_end(anchor, interval="month", periods=13, tz=SHANGHAI) == local(
        2028, 2, 29, 0, 30
    )
    assert period_end(anchor, interval="year", periods=1, tz=SHANGHAI) == local(2028, 1, 31, 0, 30)


async def _subscription(runtime: Runtime, subscription_id: int) -> Subscription:
    async with runtime.db.read() as session:
        sub = await session.scalar(select(Subscription).where(Subscription.id == subscription_id))
    assert sub is not None
    return sub


async def test_first_purchase_trials_once_and_a_later_one_extends(
    api: TestClient, runtime: Runtime, clock: MovableClock
) -> None:
    reader = await member(api)
    plan = await make_plan(runtime, creator_id=None, trial_days=7)
    start = clock.now()
    sub_id = await buy_period(runtime, user_id=reader.id, plan_id=plan, at=start)
    sub = await _subscription(runtime, sub_id)
    assert sub.status == "trialing"
    assert sub.trial_ends_at == start + timedelta(days=7)
    assert sub.current_period_end == add_months(start + timedelta(days=7), 1, SHANGHAI)
    assert await plan_readable(runtime, user_id=reader.id, plan_id=plan, at=start)

    again = await buy_period(runtime, user_id=reader.id, plan_id=plan, at=start)
    assert again == sub_id
    extended = await _subscription(runtime, sub_id)
    assert extended.periods == 2
    assert extended.current_period_end == add_months(start + timedelta(days=7), 2, SHANGHAI)
    at = extended.current_period_end - timedelta(minutes=1)
    assert await plan_readable(runtime, user_id=reader.id, plan_id=plan, at=at)

    # The job ends the trial; cancelling and reaching the end closes it; no second trial.
    clock.at = start + timedelta(days=8)
    await call(api, "POST", f"/subscriptions/{sub_id}/cancel", reader, 200)
    clock.at = extended.current_period_end
    await renew_due({"runtime": runtime})
    ended = await _subscription(runtime, sub_id)
    assert (ended.status, ended.live_plan_id) == ("cancelled", None)
    assert not await plan_readable(runtime, user_id=reader.id, plan_id=plan, at=clock.now())
    fresh = await buy_period(runtime, user_id=reader.id, plan_id=plan, at=clock.now())
    assert fresh != sub_id
    assert (await _subscription(runtime, fresh)).status == "active"


async def test_wallet_renewal_charges_credits_before_the_period_ends(
    api: TestClient, runtime: Runtime, clock: MovableClock
) -> None:
    reader = await member(api)
    plan = await make_plan(runtime, creator_id=None, price=3005)
    sub_id = await buy_period(runtime, user_id=reader.id, plan_id=plan, at=clock.now())
    await call(api, "PATCH", f"/subscriptions/{sub_id}", reader, 200, json={"renew_with": "wallet"})
    async with runtime.db.unit_of_work() as uow:
        await wallet.credit(uow, user_id=reader.id, amount=500, kind="recharge", reference="r1")
    end = (await _subscription(runtime, sub_id)).current_period_end
    assert end == local(2027, 2, 28, 10, 0)

    clock.at = end - timedelta(hours=30)
    assert await renew_due({"runtime": runtime}) == {}
    assert (await _subscription(runtime, sub_id)).periods == 1
    clock.at = end - timedelta(hours=2)
    assert await renew_due({"runtime": runtime}) == {"renewed": 1}
    assert await renew_due({"runtime": runtime}) == {}  # nothing due twice
    renewed = await _subscription(runtime, sub_id)
    assert renewed.periods == 2
    assert renewed.current_period_end == local(2027, 3, 31, 10, 0)  # back on the 31st
    async with runtime.db.read() as session:
        # 3005 fen at 10 fen a credit: 301 credits.
        assert await wallet.balance(session, user_id=reader.id) == 500 - 301
    history = await call(api, "GET", f"/subscriptions/{sub_id}/events", reader, 200)
    assert [event["kind"] for event in history["items"]][:2] == ["renewed", "renewal_method"]


async def test_failed_renewal_has_grace_with_retries_then_expires(
    api: TestClient, runtime: Runtime, clock: MovableClock
) -> None:
    settings = runtime.settings
    reader = await member(api)
    plan = await make_plan(runtime, creator_id=None)
    sub_id = await buy_period(runtime, user_id=reader.id, plan_id=plan, at=clock.now())
    await call(api, "PATCH", f"/subscriptions/{sub_id}", reader, 200, json={"renew_with": "wallet"})
    end = (await _subscription(runtime, sub_id)).current_period_end

    clock.at = end - timedelta(hours=1)
    assert await renew_due({"runtime": runtime}) == {"past_due": 1}
    due = await _subscription(runtime, sub_id)
    assert due.status == "past_due"
    assert due.grace_until == end + timedelta(days=settings.subscription_grace_days)
    # Readable through the grace period, not after it.
    assert await plan_readable(runtime, user_id=reader.id, plan_id=plan, at=end + timedelta(days=1))
    assert not await plan_readable(runtime, user_id=reader.id, plan_id=plan, at=due.grace_until)

    retries = 0
    while clock.now() < due.grace_until - timedelta(hours=settings.subscription_retry_hours):
        clock.move(hours=settings.subscription_retry_hours)
        outcome = await renew_due({"runtime": runtime})
        retries += outcome.get("retried", 0)
    assert retries == settings.subscription_max_retries
    assert (await _subscription(runtime, sub_id)).retry_count == retries

    clock.at = due.grace_until
    assert await renew_due({"runtime": runtime}) == {"expired": 1}
    expired = await _subscription(runtime, sub_id)
    assert (expired.status, expired.live_plan_id) == ("expired", None)
    types = await notification_types(runtime, reader.id)
    assert "subscription.renewal_failed" in types
    assert types[-1] == "subscription.expiring"
    listed = await call(api, "GET", "/subscriptions", reader, 200)
    assert [item["status"] for item in listed["items"]] == ["expired"]


async def test_paying_during_grace_renews_from_the_old_period_end(
    api: TestClient, runtime: Runtime, clock: MovableClock
) -> None:
    reader = await member(api)
    plan = await make_plan(runtime, creator_id=None)
    sub_id = await buy_period(runtime, user_id=reader.id, plan_id=plan, at=clock.now())
    await call(api, "PATCH", f"/subscriptions/{sub_id}", reader, 200, json={"renew_with": "wallet"})
    end = (await _subscription(runtime, sub_id)).current_period_end
    clock.at = end - timedelta(hours=1)
    await renew_due({"runtime": runtime})
    async with runtime.db.unit_of_work() as uow:
        await wallet.credit(uow, user_id=reader.id, amount=1000, kind="recharge", reference="r2")
    clock.at = end + timedelta(hours=24)
    assert await renew_due({"runtime": runtime}) == {"renewed": 1}
    sub = await _subscription(runtime, sub_id)
    assert (sub.status, sub.periods, sub.grace_until) == ("active", 2, None)
    assert sub.current_period_start == end
    assert sub.current_period_end == local(2027, 3, 31, 10, 0)


async def test_cancel_then_resume_before_the_end_keeps_renewing(
    api: TestClient, runtime: Runtime, clock: MovableClock
) -> None:
    reader = await member(api)
    plan = await make_plan(runtime, creator_id=None)
    sub_id = await buy_period(runtime, user_id=reader.id, plan_id=plan, at=clock.now())
    cancelled = await call(api, "POST", f"/subscriptions/{sub_id}/cancel", reader, 200)
    assert cancelled["cancel_at_period_end"] is True
    again = await call(api, "POST", f"/subscriptions/{sub_id}/cancel", reader, 200)
    assert again["cancel_at_period_end"] is True
    resumed = await call(api, "POST", f"/subscriptions/{sub_id}/resume", reader, 200)
    assert resumed["cancel_at_period_end"] is False

    await call(api, "POST", f"/subscriptions/{sub_id}/cancel", reader, 200)
    clock.at = datetime.fromisoformat(resumed["current_period_end"])
    assert await renew_due({"runtime": runtime}) == {"cancelled": 1}
    late = await call(api, "POST", f"/subscriptions/{sub_id}/resume", reader, 409)
    assert late["error"]["code"] == "subscriptions.illegal_transition"


async def test_another_users_subscription_is_not_found(
    api: TestClient, runtime: Runtime, clock: MovableClock
) -> None:
    owner, other = await member(api), await member(api)
    plan = await make_plan(runtime, creator_id=None)
    sub_id = await buy_period(runtime, user_id=owner.id, plan_id=plan, at=clock.now())
    for method, path in [
        ("GET", f"/subscriptions/{sub_id}"),
        ("GET", f"/subscriptions/{sub_id}/events"),
        ("POST", f"/subscriptions/{sub_id}/cancel"),
        ("POST", f"/subscriptions/{sub_id}/resume"),
    ]:
        body = await call(api, method, path, other, 404)
        assert body["error"]["code"] == "subscriptions.not_found"
    await call(api, "PATCH", f"/subscriptions/{sub_id}", other, 404, json={"renew_with": "order"})
    assert (await call(api, "GET", "/subscriptions", other, 200))["items"] == []
    await call(api, "GET", "/subscriptions", None, 401)


async def _pay(runtime: Runtime, order_id: int, at: datetime) -> None:
    from models.commerce.orders import Order
    from server.commerce.orders import fulfilment
    from server.commerce.orders import service as orders

    async with runtime.db.unit_of_work() as uow:
        order = await uow.session.get(Order, order_id)
        assert order is not None
        outcome = await orders.mark_paid(
            uow,
            order_id=order_id,
            provider="sandbox",
            amount=order.total,
            currency=order.currency,
            paid_at=at,
            now=at,
        )
    assert outcome == "paid"
    async with runtime.db.unit_of_work() as uow:
        assert await fulfilment.fulfil_paid(uow, order_id=order_id, now=at)


async def _orders_of(runtime: Runtime, user_id: int) -> list[tuple[int, str, str, int | None]]:
    from models.commerce.orders import Order

    async with runtime.db.read() as session:
        rows = await session.execute(
            select(Order.id, Order.kind, Order.status, Order.subscription_id)
            .where(Order.user_id == user_id)
            .order_by(Order.id)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def test_order_renewal_offers_an_order_whose_payment_extends_the_period(
    api: TestClient, runtime: Runtime, clock: MovableClock
) -> None:
    from server.commerce.orders import service as orders

    reader = await member(api)
    plan = await make_plan(runtime, creator_id=None, price=1990)
    async with runtime.db.unit_of_work() as uow:
        first = await orders.create_order(
            uow, user_id=reader.id, items=[(plan, 1)], now=clock.now()
        )
    await _pay(runtime, first.id, clock.now())
    listed = await call(api, "GET", "/subscriptions", reader, 200)
    (sub,) = listed["items"]
    assert (sub["status"], sub["renew_with"], sub["last_order_id"]) == ("active", "order", first.id)
    end = datetime.fromisoformat(sub["current_period_end"])

    clock.at = end - timedelta(hours=3)
    assert await renew_due({"runtime": runtime}) == {"offered": 1}
    assert await renew_due({"runtime": runtime}) == {"offered": 1}  # offered once
    orders_now = await _orders_of(runtime, reader.id)
    assert [o[1:] for o in orders_now] == [
        ("purchase", "fulfilled", None),
        ("renewal", "pending_payment", sub["id"]),
    ]
    assert (await notification_types(runtime, reader.id))[-1] == "subscription.expiring"
    await _pay(runtime, orders_now[1][0], clock.now())
    renewed = await call(api, "GET", f"/subscriptions/{sub['id']}", reader, 200)
    assert renewed["current_period_end"] == "2027-03-31T02:00:00Z"
    assert renewed["status"] == "active"


async def test_unpaid_renewal_order_falls_due_and_is_offered_again_after_it_lapses(
    api: TestClient, runtime: Runtime, clock: MovableClock
) -> None:
    from server.commerce.orders import service as orders

    reader = await member(api)
    plan = await make_plan(runtime, creator_id=None, price=1990)
    sub_id = await buy_period(runtime, user_id=reader.id, plan_id=plan, at=clock.now())
    end = (await _subscription(runtime, sub_id)).current_period_end
    clock.at = end - timedelta(hours=3)
    await renew_due({"runtime": runtime})
    clock.at = end
    assert await renew_due({"runtime": runtime}) == {"past_due": 1}
    (offer,) = await _orders_of(runtime, reader.id)
    async with runtime.db.unit_of_work() as uow:
        await orders.cancel(uow, order_id=offer[0], reason="timeout", now=clock.now())
    clock.move(hours=runtime.settings.subscription_retry_hours)
    assert await renew_due({"runtime": runtime}) == {"retried": 1}
    offers = await _orders_of(runtime, reader.id)
    assert [o[2] for o in offers] == ["cancelled", "pending_payment"]
    await _pay(runtime, offers[1][0], clock.now())
    sub = await _subscription(runtime, sub_id)
    assert (sub.status, sub.periods, sub.current_period_start) == ("active", 2, end)


async def test_my_subscriptions_page_newest_first(
    api: TestClient, runtime: Runtime, clock: MovableClock
) -> None:
    from server.http.pagination import encode_cursor

    reader = await member(api)
    plans = [await make_plan(runtime, creator_id=None) for _ in range(3)]
    ids = [await buy_period(runtime, user_id=reader.id, plan_id=p, at=clock.now()) for p in plans]
    first = await call(api, "GET", "/subscriptions?limit=2", reader, 200)
    assert [item["id"] for item in first["items"]] == ids[:0:-1]
    second = await call(
        api, "GET", f"/subscriptions?limit=2&cursor={first['next_cursor']}", reader, 200
    )
    assert ([item["id"] for item in second["items"]], second["next_cursor"]) == ([ids[0]], None)
    events = await call(api, "GET", f"/subscriptions/{ids[0]}/events?limit=1", reader, 200)
    assert [item["kind"] for item in events["items"]] == ["started"]
    for cursor in ("nonsense", encode_cursor({"id": 2**63}), encode_cursor({"id": "1"})):
        bad = await call(api, "GET", f"/subscriptions?cursor={cursor}", reader, 400)
        assert bad["error"]["code"] == "pagination.invalid_cursor"
        await call(api, "GET", f"/subscriptions/{ids[0]}/events?cursor={cursor}", reader, 400)


async def test_cancelling_a_past_due_subscription_ends_it_at_once(
    api: TestClient, runtime: Runtime, clock: MovableClock
) -> None:
    reader = await member(api)
    plan = await make_plan(runtime, creator_id=None)
    sub_id = await buy_period(runtime, user_id=reader.id, plan_id=plan, at=clock.now())
    await call(api, "PATCH", f"/subscriptions/{sub_id}", reader, 200, json={"renew_with": "wallet"})
    end = (await _subscription(runtime, sub_id)).current_period_end
    clock.at = end + timedelta(hours=1)
    assert await renew_due({"runtime": runtime}) == {"past_due": 1}
    assert await plan_readable(runtime, user_id=reader.id, plan_id=plan, at=clock.now())
    ended = await call(api, "POST", f"/subscriptions/{sub_id}/cancel", reader, 200)
    assert ended["status"] == "cancelled"
    assert not await plan_readable(runtime, user_id=reader.id, plan_id=plan, at=clock.now())
    for method, path, body in [
        ("POST", f"/subscriptions/{sub_id}/cancel", None),
        ("PATCH", f"/subscriptions/{sub_id}", {"renew_with": "order"}),
    ]:
        refused = await call(api, method, path, reader, 409, json=body)
        assert refused["error"]["code"] == "subscriptions.illegal_transition"
    await call(api, "PATCH", f"/subscriptions/{sub_id}", reader, 422, json={"renew_with": "card"})


async def test_a_renewal_that_fails_is_retried_later_and_does_not_stop_the_others(
    api: TestClient, runtime: Runtime, clock: MovableClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    creator = await member(api, "creator")
    # The creator's plan earns from each renewal; while booking that sale breaks, that renewal
    # fails (and is rolled back whole). The platform plan after it renews anyway.
    earning = await make_plan(runtime, creator_id=creator.id, price=3000)
    platform = await make_plan(runtime, creator_id=None, price=3000)
    subscribers = [await member(api), await member(api)]
    subs = []
    for reader, plan in zip(subscribers, (earning, platform), strict=True):
        sub_id = await buy_period(runtime, user_id=reader.id, plan_id=plan, at=clock.now())
        await call(
            api, "PATCH", f"/subscriptions/{sub_id}", reader, 200, json={"renew_with": "wallet"}
        )
        async with runtime.db.unit_of_work() as uow:
            await wallet.credit(
                uow, user_id=reader.id, amount=500, kind="recharge", reference=f"r{reader.id}"
            )
        subs.append(sub_id)
    clock.at = (await _subscription(runtime, subs[0])).current_period_end - timedelta(hours=2)
    record_renewal = earnings.record_renewal

    async def broken(uow: UnitOfWork, **kwargs: Any) -> int | None:
        if kwargs["creator_id"] == creator.id:
            raise RuntimeError("the sale could not be booked")
        return await record_renewal(uow, **kwargs)

    monkeypatch.setattr(earnings, "record_renewal", broken)

    assert await renew_due({"runtime": runtime}) == {"failed": 1, "renewed": 1}
    assert [(await _subscription(runtime, s)).periods for s in subs] == [1, 2]
    async with runtime.db.read() as session:
        assert await wallet.balance(session, user_id=subscribers[0].id) == 500  # nothing taken
    assert await renew_due({"runtime": runtime}) == {"failed": 1}  # retried by the next run

    monkeypatch.setattr(earnings, "record_renewal", record_renewal)
    assert await renew_due({"runtime": runtime}) == {"renewed": 1}  # mended: it renews
    assert [(await _subscription(runtime, s)).periods for s in subs] == [2, 2]
    await assert_money_invariants(runtime.db.engine)


async def test_a_plan_renewed_with_free_credits_pays_its_creator_from_the_credits_liability(
    api: TestClient, runtime: Runtime, clock: MovableClock
) -> None:
    creator, reader = await member(api, "creator"), await member(api)
    plan = await make_plan(runtime, creator_id=creator.id, price=3000)
    sub_id = await buy_period(runtime, user_id=reader.id, plan_id=plan, at=clock.now())
    await call(api, "PATCH", f"/subscriptions/{sub_id}", reader, 200, json={"renew_with": "wallet"})
    async with runtime.db.unit_of_work() as uow:  # a grant: no money came in for these credits
        await wallet.credit(uow, user_id=reader.id, amount=500, kind="grant", reference="gift")
    clock.at = (await _subscription(runtime, sub_id)).current_period_end - timedelta(hours=2)

    assert await renew_due({"runtime": runtime}) == {"renewed": 1}
    assert (await _subscription(runtime, sub_id)).periods == 2
    async with runtime.db.read() as session:
        assert await wallet.balance(session, user_id=reader.id) == 500 - 300
        sold = (
            await session.scalars(select(Earning).where(Earning.creator_id == creator.id))
        ).all()
        assert [(row.gross, row.fee, row.net, row.status) for row in sold] == [
            (3000, 600, 2400, "pending")
        ]

        async def platform(purpose: str) -> int:
            return await ledger.balance_of(
                session, owner_type="platform", owner_id=0, purpose=purpose, currency="CNY"
            )

        # The creator's net and the fee come out of the credits liability, not platform cash:
        # left negative by the price, the platform's cost of the credits it gave away.
        assert await platform("cash") == 0
        assert await platform("credits_liability") == -3000
        assert await platform("revenue") == 600
        assert (
            await ledger.balance_of(
                session,
                owner_type="creator",
                owner_id=creator.id,
                purpose="earnings_pending",
                currency="CNY",
            )
            == 2400
        )
    await assert_money_invariants(runtime.db.engine)
