"""Payment and fulfilment: `mark_paid` once however often it is called, what each kind of item
delivers, money in the ledger, revived and refund-needed payments."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from models.commerce.earnings import Earning
from models.commerce.ledger import LedgerTransaction
from models.commerce.orders import Order
from models.commerce.subscriptions import Subscription
from models.content.items import Entitlement
from models.notify.notifications import Notification
from server.commerce.ledger import service as ledger
from server.commerce.orders import service
from server.commerce.orders.errors import OrderNotFound, PaymentMismatch
from server.commerce.wallet import service as wallet
from server.runtime import Runtime
from tests.helpers.env import on_both_engines
from tests.helpers.orders import (
    RecordingEvents,
    checkout,
    count,
    coupon,
    order_row,
    paid_content,
    pay,
    product,
    stock_of,
    used_count,
)
from tests.helpers.people import Person, call


async def test_a_payment_delivers_every_item_and_books_the_money(
    api: TestClient, runtime: Runtime, events: RecordingEvents, buyer: Person, creator: Person
) -> None:
    content_id = await paid_content(runtime, creator.id)
    article = await product(
        api, kind="content", price=990, credits=None, content_id=content_id, creator_id=creator.id
    )
    pack = await product(api, price=600, credits=100)
    mug = await product(api, kind="physical", price=2500, stock=3, credits=None)
    order = await checkout(api, buyer, [(article, 1), (pack, 1), (mug, 1)])
    assert await pay(runtime, order) == "paid"

    seen = await call(api, "GET", f"/orders/{order['id']}", buyer, 200)
    assert seen["status"] == "fulfilled" and seen["provider"] == "sandbox"
    assert [e["to_status"] for e in seen["history"]] == [
        "pending_payment",
        "paid",
        "fulfilled",
    ]
    # The mug waits in its shipment: it is delivered when the buyer receives it.
    assert [bool(item["fulfilled_at"]) for item in seen["items"]] == [True, True, False]
    assert [s["status"] for s in seen["shipments"]] == ["pending"]
    async with runtime.db.read() as session:
        grant = (await session.scalars(select(Entitlement))).one()
        assert await wallet.balance(session, user_id=buyer.id) == 100
        gateway = await ledger.balance_of(
            session, owner_type="platform", owner_id=0, purpose="gateway:sandbox", currency="CNY"
        )
    assert (grant.user_id, grant.subject_type, grant.subject_id) == (
        buyer.id,
        "content",
        content_id,
    )
    assert (grant.source, grant.source_id) == ("order_item", str(seen["items"][0]["id"]))
    assert gateway == -order["total"]
    payment = select(func.count()).where(
        LedgerTransaction.kind == "payment", LedgerTransaction.reference == f"order:{order['id']}"
    )
    assert await count(runtime, payment) == 1
    paid_notes = select(func.count()).where(Notification.type == "order.paid")
    assert await count(runtime, paid_notes) == 1
    await asyncio.sleep(0)
    updates = events.of("order.updated")
    assert [e.data["status"] for e in updates] == ["pending_payment", "paid", "fulfilled"]
    assert all(e.user_ids == (buyer.id,) for e in updates)
    assert updates[-1].data["number"] == order["number"]
    assert updates[-1].data["total"] == order["total"]
    assert await stock_of(api, mug) == 2


@on_both_engines
async def test_ten_concurrent_callbacks_pay_and_fulfil_once(
    api: TestClient, runtime: Runtime, buyer: Person
) -> None:
    pack = await product(api, price=600, credits=100)
    order = await checkout(api, buyer, [(pack, 1)])
    outcomes = await asyncio.gather(*(pay(runtime, order) for _ in range(10)))
    assert sorted(outcomes) == ["already"] * 9 + ["paid"]
    async with runtime.db.read() as session:
        assert await wallet.balance(session, user_id=buyer.id) == 100
    payments = select(func.count()).where(LedgerTransaction.kind == "payment")
    assert await count(runtime, payments) == 1
    assert await count(runtime, select(func.count()).where(Notification.type == "order.paid")) == 1
    assert await pay(runtime, order) == "already"


async def test_a_payment_for_another_amount_or_currency_changes_nothing(
    api: TestClient, runtime: Runtime, buyer: Person
) -> None:
    pack = await product(api, price=600)
    order = await checkout(api, buyer, [(pack, 1)])
    with pytest.raises(PaymentMismatch):
        await pay(runtime, order, amount=599)
    with pytest.raises(PaymentMismatch):
        await pay(runtime, order, currency="USD")
    with pytest.raises(OrderNotFound):
        await pay(runtime, order, order_id=order["id"] + 1000)
    assert (await order_row(runtime, order["id"])).status == "pending_payment"
    assert await count(runtime, select(func.count()).select_from(LedgerTransaction)) == 0


async def test_a_second_payment_through_another_provider_is_to_be_refunded(
    api: TestClient, runtime: Runtime, buyer: Person
) -> None:
    pack = await product(api, price=600)
    order = await checkout(api, buyer, [(pack, 1)])
    assert await pay(runtime, order, provider="alipay") == "paid"
    assert await pay(runtime, order, provider="wechat") == "refund_needed"
    assert (await order_row(runtime, order["id"])).provider == "alipay"


async def test_a_late_payment_revives_a_timed_out_order_while_stock_lasts(
    api: TestClient, runtime: Runtime, buyer: Person, other: Person
) -> None:
    mug = await product(api, kind="physical", price=2500, stock=2, credits=None)
    first = await checkout(api, buyer, [(mug, 1)])
    second = await checkout(api, other, [(mug, 1)])
    later = runtime.clock.now() + timedelta(hours=1)
    for order in (first, second):
        async with runtime.db.unit_of_work() as uow:
            assert await service.expire(uow, order_id=order["id"], now=later)
    assert await stock_of(api, mug) == 2
    assert await pay(runtime, first) == "revived"
    assert await stock_of(api, mug) == 1
    revived = await order_row(runtime, first["id"])
    assert revived.status == "fulfilled" and revived.cancelled_at is None

    await checkout(api, buyer, [(mug, 1)])  # the last one goes to someone else
    assert await pay(runtime, second) == "refund_needed"
    assert (await order_row(runtime, second["id"])).status == "cancelled"
    assert await stock_of(api, mug) == 0


async def test_expiry_leaves_paid_and_not_yet_due_orders_alone(
    api: TestClient, runtime: Runtime, buyer: Person
) -> None:
    pack = await product(api, price=600)
    order = await checkout(api, buyer, [(pack, 1)])
    async with runtime.db.unit_of_work() as uow:
        assert not await service.expire(uow, order_id=order["id"], now=runtime.clock.now())
    await pay(runtime, order)
    later = runtime.clock.now() + timedelta(hours=1)
    async with runtime.db.unit_of_work() as uow:
        assert not await service.expire(uow, order_id=order["id"], now=later)
    assert (await order_row(runtime, order["id"])).status == "fulfilled"


async def test_a_paid_plan_starts_a_subscription_and_pays_its_creator(
    api: TestClient, runtime: Runtime, buyer: Person, creator: Person
) -> None:
    plan = await product(
        api, kind="plan", price=3000, credits=None, interval="month", creator_id=creator.id
    )
    order = await checkout(api, buyer, [(plan, 1)])
    assert await pay(runtime, order) == "paid"
    async with runtime.db.read() as session:
        sub = (await session.scalars(select(Subscription))).one()
        earning = (await session.scalars(select(Earning))).one()
    assert (sub.user_id, sub.product_id, sub.last_order_id) == (buyer.id, plan, order["id"])
    assert (earning.creator_id, earning.gross, earning.order_id) == (creator.id, 3000, order["id"])
    assert await pay(runtime, order) == "already"
    async with runtime.db.read() as session:
        assert len((await session.scalars(select(Earning))).all()) == 1


async def test_a_revived_order_takes_its_coupon_again_or_keeps_the_price_without_it(
    api: TestClient, runtime: Runtime, buyer: Person, other: Person, admin: Person
) -> None:
    pack = await product(api, price=600)
    code = await coupon(api, admin.id, total_limit=1)
    first = await checkout(api, buyer, [(pack, 1)], coupon_code="SAVE100")
    later = runtime.clock.now() + timedelta(hours=1)
    async with runtime.db.unit_of_work() as uow:
        await service.expire(uow, order_id=first["id"], now=later)
    assert await used_count(api, code) == 0
    assert await pay(runtime, first) == "revived"
    assert await used_count(api, code) == 1

    second = await checkout(api, other, [(pack, 1)])
    async with runtime.db.unit_of_work() as uow:  # its coupon went to someone else meanwhile
        row = await uow.session.get(Order, second["id"])
        assert row is not None
        row.coupon_id, row.discount, row.total = code, 100, 500
        await uow.session.flush()
        await service.cancel(uow, order_id=second["id"], reason="timeout")
    assert await pay(runtime, {**second, "total": 500}) == "revived"
    assert (await order_row(runtime, second["id"])).status == "fulfilled"
    assert await used_count(api, code) == 1
