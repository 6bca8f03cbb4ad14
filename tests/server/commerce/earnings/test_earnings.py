"""Earnings: the split of each sale, settlement, refunds clawing back, statements, rooms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from jobs.earnings import settle_due
from models.commerce.earnings import Earning
from server.commerce.earnings import service as earnings
from server.commerce.earnings.queries import MonthOutOfRange, month_bounds
from server.http.guards import Principal
from server.outbox import Event
from server.runtime import Runtime
from tests.helpers.earnings import (
    balance,
    creator_balances,
    creator_plan,
    refund,
    sell,
    verified_creator,
)
from tests.helpers.people import call
from tests.helpers.subscriptions import MovableClock, member, notification_types

SHANGHAI = ZoneInfo("Asia/Shanghai")


@given(amount=st.integers(min_value=0, max_value=10**12), bps=st.integers(0, 10_000))
def test_split_never_loses_a_fen(amount: int, bps: int) -> None:
    fee, net = earnings.split(amount, bps)
    assert fee + net == amount
    assert 0 <= fee <= amount
    assert abs(fee * 10_000 - amount * bps) <= 5_000


def test_settlement_is_cut_at_business_midnight() -> None:
    paid = datetime(2026, 12, 2, 15, 59, tzinfo=UTC)  # 23:59 in Shanghai on Dec 2
    assert earnings.available_from(paid, days=7, tz=SHANGHAI) == datetime(
        2026, 12, 9, 16, 0, tzinfo=UTC
    )
    assert month_bounds("2026-12", SHANGHAI) == (
        datetime(2026, 11, 30, 16, 0, tzinfo=UTC),
        datetime(2026, 12, 31, 16, 0, tzinfo=UTC),
    )


async def _earning(runtime: Runtime, order_id: int) -> Earning:
    async with runtime.db.read() as session:
        row = await session.scalar(select(Earning).where(Earning.order_id == order_id))
    assert row is not None
    return row


async def test_a_sale_splits_into_fee_and_pending_net_then_settles(
    api: TestClient, runtime: Runtime
) -> None:
    clock = MovableClock(datetime.now(UTC))
    runtime.clock = clock
    creator, buyer = await verified_creator(api), await member(api)
    plan = await creator_plan(runtime, creator.id, price=999)
    sent: list[Event] = []
    assert runtime.events is not None
    original = runtime.events.send

    async def capture(event: Event) -> None:
        sent.append(event)
        await original(event)

    runtime.events.send = capture  # type: ignore[method-assign]
    order_id = await sell(runtime, buyer_id=buyer.id, product_id=plan, at=clock.now())
    sale = await _earning(runtime, order_id)
    assert (sale.gross, sale.fee, sale.net, sale.status) == (999, 200, 799, "pending")
    assert await creator_balances(runtime, creator.id) == (799, 0)
    assert await balance(runtime, owner_type="platform", owner_id=0, purpose="revenue") == 200
    assert await balance(runtime, owner_type="platform", owner_id=0, purpose="cash") == 0
    rooms = {event.room for event in sent if event.type == "sale.created"}
    assert f"dashboard:creator:{creator.id}" in rooms
    assert "earnings.sale" in await notification_types(runtime, creator.id)
    summary = await call(api, "GET", "/earnings/summary", creator, 200)
    assert summary == {"currency": "CNY", "pending": 799, "available": 0, "withdrawing": 0}
    sales = await call(api, "GET", "/earnings/sales", creator, 200)
    assert [item["net"] for item in sales["items"]] == [799]

    assert await settle_due({"runtime": runtime}) == 0  # not yet
    clock.at = sale.available_at
    assert await settle_due({"runtime": runtime}) == 1
    assert await settle_due({"runtime": runtime}) == 0
    assert await creator_balances(runtime, creator.id) == (0, 799)
    assert (await _earning(runtime, order_id)).status == "available"


async def test_partial_refunds_claw_back_in_proportion_and_all_of_it_in_the_end(
    api: TestClient, runtime: Runtime
) -> None:
    now = datetime.now(UTC)
    creator, buyer = await verified_creator(api), await member(api)
    plan = await creator_plan(runtime, creator.id, price=999)
    order_id = await sell(runtime, buyer_id=buyer.id, product_id=plan, at=now)
    await refund(runtime, order_id=order_id, amount=333, at=now)
    sale = await _earning(runtime, order_id)
    # The creator keeps floor(799 * 666 / 999) = 532 of the net.
    assert (sale.refunded, sale.clawed_back) == (333, 267)
    assert await creator_balances(runtime, creator.id) == (532, 0)
    assert await balance(runtime, owner_type="platform", owner_id=0, purpose="revenue") == 200 - 66
    await refund(runtime, order_id=order_id, amount=666, at=now)
    sale = await _earning(runtime, order_id)
    assert (sale.clawed_back, sale.status) == (799, "reversed")
    assert await creator_balances(runtime, creator.id) == (0, 0)
    assert await balance(runtime, owner_type="platform", owner_id=0, purpose="revenue") == 0
    assert await balance(runtime, owner_type="platform", owner_id=0, purpose="cash") == 0


async def test_platform_products_record_no_earnings(api: TestClient, runtime: Runtime) -> None:
    buyer = await member(api)
    async with runtime.db.unit_of_work() as uow:
        from models.commerce.catalog import Product

        row = Product(kind="plan", title="官方会员", price=1000, status="active", interval="year")
        uow.session.add(row)
        await uow.session.flush()
        plan = row.id
    order_id = await sell(runtime, buyer_id=buyer.id, product_id=plan, at=datetime.now(UTC))
    async with runtime.db.read() as session:
        assert await session.scalar(select(Earning.id).where(Earning.order_id == order_id)) is None


async def test_monthly_statement_adds_up(api: TestClient, runtime: Runtime) -> None:
    now = datetime.now(UTC)
    creator, buyer = await verified_creator(api), await member(api)
    plan = await creator_plan(runtime, creator.id, price=10_000)
    first = await sell(runtime, buyer_id=buyer.id, product_id=plan, at=now)
    other = await member(api)
    await sell(runtime, buyer_id=other.id, product_id=plan, at=now)
    await refund(runtime, order_id=first, amount=5_000, at=now)
    month = now.astimezone(SHANGHAI).strftime("%Y-%m")
    statement = await call(api, "GET", f"/earnings/statements/{month}", creator, 200)
    assert statement["sales"] == {"count": 2, "gross": 20_000, "fee": 4_000, "net": 16_000}
    assert statement["refunds"] == 4_000
    assert statement["opening_balance"] == 0
    assert statement["closing_balance"] == 16_000 - 4_000 - statement["withdrawals"]
    previous = await call(api, "GET", "/earnings/statements/2020-01", creator, 200)
    assert previous["closing_balance"] == 0
    bad = await call(api, "GET", "/earnings/statements/2026-13", creator, 422)
    assert bad["error"]["code"] == "request.validation"
    stranger = await member(api)
    theirs = await call(api, "GET", f"/earnings/statements/{month}", stranger, 200)
    assert theirs["sales"]["count"] == 0


@pytest.mark.parametrize("month", ["0000-01", "0001-01", "1969-12", "9999-01", "9999-12"])
async def test_a_statement_for_a_month_outside_the_calendar_is_422(
    api: TestClient, month: str
) -> None:
    creator = await verified_creator(api)
    bad = await call(api, "GET", f"/earnings/statements/{month}", creator, 422)
    assert bad["error"]["code"] == "request.validation"
    assert set(bad["error"]["fields"]) == {"path.month"}
    for edge in ("1970-01", "9998-12"):
        statement = await call(api, "GET", f"/earnings/statements/{edge}", creator, 200)
        assert statement["closing_balance"] == 0


def test_month_bounds_refuses_months_it_cannot_represent() -> None:
    for month in ("0000-01", "0001-01", "9999-12"):
        with pytest.raises(MonthOutOfRange):
            month_bounds(month, SHANGHAI)


async def test_only_the_creator_or_admins_join_the_creator_dashboard() -> None:
    expires = datetime.now(UTC)
    creator = Principal(7, 1, frozenset({"reader", "creator"}), expires)
    other = Principal(8, 2, frozenset({"reader", "creator"}), expires)
    admin = Principal(9, 3, frozenset({"admin"}), expires)
    assert await earnings.dashboard_room_check(creator, "7")
    assert not await earnings.dashboard_room_check(other, "7")
    assert not await earnings.dashboard_room_check(creator, "x")
    assert await earnings.dashboard_room_check(admin, "7")


async def test_sale_recording_is_idempotent_per_item(api: TestClient, runtime: Runtime) -> None:
    now = datetime.now(UTC) - timedelta(minutes=1)
    creator, buyer = await verified_creator(api), await member(api)
    plan = await creator_plan(runtime, creator.id, price=500)
    order_id = await sell(runtime, buyer_id=buyer.id, product_id=plan, at=now)
    sale = await _earning(runtime, order_id)
    from models.commerce.orders import Order, OrderItem

    async with runtime.db.unit_of_work() as uow:
        order = await uow.session.get(Order, order_id)
        item = await uow.session.scalar(select(OrderItem).where(OrderItem.order_id == order_id))
        assert order is not None and item is not None
        assert await earnings.record_sale(uow, order=order, item=item) == sale.id
    assert await creator_balances(runtime, creator.id) == (400, 0)
