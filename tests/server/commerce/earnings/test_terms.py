"""The terms a sale, a subscription period and an order number follow are the app's settings
(its runtime's), not the process environment."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.commerce.earnings import Earning
from models.commerce.orders import Order
from models.commerce.subscriptions import Subscription
from server.commerce.earnings import service as earnings
from server.commerce.earnings import terms
from server.keys import RUNTIME
from tests.helpers.earnings import creator_plan, sell
from tests.helpers.env import AppClient, make_settings
from tests.helpers.subscriptions import MovableClock, member

NEW_YORK = ZoneInfo("America/New_York")


async def test_fee_settlement_and_timezone_come_from_the_apps_settings(
    make_client: AppClient, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The environment says otherwise: what applies is what the app was given.
    monkeypatch.setenv("EARNINGS_PLATFORM_FEE_BPS", "300")
    monkeypatch.setenv("EARNINGS_SETTLEMENT_DAYS", "30")
    monkeypatch.setenv("BUSINESS_TZ", "Asia/Tokyo")
    api = await make_client(
        make_settings(
            database_url=database_url,
            earnings_platform_fee_bps=1500,
            earnings_settlement_days=2,
            business_tz="America/New_York",
        )
    )
    runtime = api.app[RUNTIME]
    # 2027-01-31 02:00 UTC is still January 30 in New York (February 1 nowhere near).
    at = datetime(2027, 1, 31, 2, 0, tzinfo=UTC)
    runtime.clock = MovableClock(at)
    creator, buyer = await member(api, "creator"), await member(api)
    plan = await creator_plan(runtime, creator.id, price=1000)
    order_id = await sell(runtime, buyer_id=buyer.id, product_id=plan, at=at)
    async with runtime.db.read() as session:
        sale = await session.scalar(select(Earning).where(Earning.order_id == order_id))
        order = await session.get(Order, order_id)
        sub = await session.scalar(select(Subscription).where(Subscription.user_id == buyer.id))
    assert sale is not None and order is not None and sub is not None
    assert (sale.fee, sale.net) == (150, 850)
    # Two full New York days after January 30: February 2 at local midnight.
    assert sale.available_at == datetime(2027, 2, 2, tzinfo=NEW_YORK).astimezone(UTC)
    assert sale.available_at == earnings.available_from(at, days=2, tz=NEW_YORK)
    # The order number carries the New York business day, not the UTC one.
    assert order.number.startswith("20270130")
    # The period is a month in New York: January 30 21:00 local -> February 28 21:00 local.
    assert sub.current_period_end == datetime(2027, 2, 28, 21, 0, tzinfo=NEW_YORK).astimezone(UTC)


async def test_order_numbers_carry_the_business_day(
    make_client: AppClient, database_url: str
) -> None:
    api = await make_client(make_settings(database_url=database_url))
    runtime = api.app[RUNTIME]
    # 16:30 UTC on December 2 is already December 3 in Shanghai (the default business zone).
    at = datetime(2026, 12, 2, 16, 30, tzinfo=UTC)
    creator, buyer = await member(api, "creator"), await member(api)
    plan = await creator_plan(runtime, creator.id, price=500)
    order_id = await sell(runtime, buyer_id=buyer.id, product_id=plan, at=at)
    async with runtime.db.read() as session:
        order = await session.get(Order, order_id)
    assert order is not None and order.number.startswith("20261203")


async def test_a_session_made_outside_a_runtime_has_no_terms() -> None:
    session = AsyncSession()
    try:
        with pytest.raises(RuntimeError):
            terms.terms(session)
    finally:
        await session.close()
