"""Earnings helpers: verified creators, sales through real orders, refunds, balances."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime

from aiohttp.test_utils import TestClient

from models.commerce.catalog import Product
from models.identity.creators import CreatorApplication
from server.commerce.ledger import service as ledger
from server.commerce.orders import fulfilment
from server.commerce.orders import service as orders
from server.keys import RUNTIME
from server.runtime import Runtime
from tests.helpers.subscriptions import Member, member
from tests.server.commerce.earnings.fake_payouts import AlipayTransfers, WechatTransfers

_refunds = itertools.count(1)
REAL_NAME = "张三"


@dataclass
class Channels:
    alipay: AlipayTransfers
    wechat: WechatTransfers


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
    async with runtime.db.unit_of_work() as uow:
        assert await fulfilment.fulfil_paid(uow, order_id=order.id, now=at)
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
    """An account's balance, its shards' included (platform cash and revenue are sharded)."""
    async with runtime.db.read() as session:
        return await ledger.balance_of(
            session, owner_type=owner_type, owner_id=owner_id, purpose=purpose, currency="CNY"
        )


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
