"""Earnings test helpers: the app pointed at fake payout gateways, verified creators, sales
through real orders, balances."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from models.commerce.catalog import Product
from models.commerce.ledger import LedgerAccount
from models.identity.creators import CreatorApplication
from server.commerce.orders import service as orders
from server.keys import RUNTIME
from server.runtime import Runtime
from server.settings import Settings
from tests.conftest import AppClient, make_settings
from tests.fakes.alipay import FakeAlipay
from tests.fakes.base import start
from tests.fakes.wechat import FakeWechatPay
from tests.realtime.conftest import connect, make_server, rt_settings, server, sockets  # noqa: F401
from tests.server.commerce.earnings.fake_payouts import AlipayTransfers, WechatTransfers
from tests.server.commerce.subscriptions.conftest import Member, member

_refunds = itertools.count(1)
REAL_NAME = "张三"


@dataclass
class Channels:
    alipay: AlipayTransfers
    wechat: WechatTransfers


@pytest.fixture
async def channels(aiohttp_server: Any) -> Channels:
    alipay, wechat = FakeAlipay(), FakeWechatPay()
    for fake in (alipay, wechat):
        await start(fake, aiohttp_server)
    return Channels(AlipayTransfers(alipay), WechatTransfers(wechat))


@pytest.fixture
def earnings_settings(database_url: str, settings: Settings, channels: Channels) -> Settings:
    return make_settings(
        database_url=database_url,
        withdrawal_min_amount=1000,
        **channels.alipay.fake.settings(),
        **channels.wechat.fake.settings(),
    )


@pytest.fixture
async def api(
    make_client: AppClient, earnings_settings: Settings, channels: Channels
) -> TestClient:
    client = await make_client(earnings_settings)
    for fake in (channels.alipay.fake, channels.wechat.fake):
        fake.follow(client.app[RUNTIME])  # transfer times are the app's, however a test moves it
    return client


@pytest.fixture
def runtime(api: TestClient) -> Runtime:
    return api.app[RUNTIME]


async def verified_creator(api: TestClient) -> Member:
    """A creator whose application (with a verified real name) was approved."""
    who = await member(api, "creator")
    runtime = api.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        uow.session.add(
            CreatorApplication(
                user_id=who.id,
                status="approved",
                real_name_enc=runtime.pii.encrypt(REAL_NAME, context="creators.real_name"),
                pitch="写作",
                links=[],
                verification={"provider": "fake", "result": "match"},
                created_at=runtime.clock.now(),
            )
        )
    return who


async def creator_plan(runtime: Runtime, creator_id: int, price: int) -> int:
    async with runtime.db.unit_of_work() as uow:
        row = Product(
            creator_id=creator_id,
            kind="plan",
            title="专栏订阅",
            price=price,
            currency="CNY",
            status="active",
            interval="month",
        )
        uow.session.add(row)
        await uow.session.flush()
        return row.id


async def sell(runtime: Runtime, *, buyer_id: int, product_id: int, at: datetime) -> int:
    """A paid order for one product; its id."""
    async with runtime.db.unit_of_work() as uow:
        order = await orders.create_order(uow, user_id=buyer_id, items=[(product_id, 1)], now=at)
    async with runtime.db.unit_of_work() as uow:
        outcome = await orders.mark_paid(
            uow,
            order_id=order.id,
            provider="sandbox",
            amount=order.total,
            currency="CNY",
            paid_at=at,
            now=at,
        )
    assert outcome == "paid"
    return order.id


async def refund(runtime: Runtime, *, order_id: int, amount: int, at: datetime) -> None:
    async with runtime.db.unit_of_work() as uow:
        await orders.begin_refund(
            uow, order_id=order_id, amount=amount, reason="test", actor_id=None, now=at
        )
    async with runtime.db.unit_of_work() as uow:
        await orders.complete_refund(
            uow, order_id=order_id, amount=amount, refund_ref=f"R{next(_refunds)}", now=at
        )


async def balance(runtime: Runtime, *, owner_type: str, owner_id: int, purpose: str) -> int:
    async with runtime.db.read() as session:
        value = await session.scalar(
            select(LedgerAccount.balance).where(
                LedgerAccount.owner_type == owner_type,
                LedgerAccount.owner_id == owner_id,
                LedgerAccount.purpose == purpose,
                LedgerAccount.currency == "CNY",
            )
        )
    return int(value or 0)


async def creator_balances(runtime: Runtime, creator_id: int) -> tuple[int, int]:
    """(pending, available) of a creator."""
    return (
        await balance(
            runtime, owner_type="creator", owner_id=creator_id, purpose="earnings_pending"
        ),
        await balance(
            runtime, owner_type="creator", owner_id=creator_id, purpose="earnings_available"
        ),
    )
