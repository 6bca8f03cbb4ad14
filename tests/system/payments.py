"""What the payment system tests share: a web side whose relay hands jobs to arq (the `runtime`
fixture, paying through the fake Alipay), an Alipay that keeps a refund request unanswered, and a
buyer's order paid or about to be."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from models.commerce.catalog import Product
from models.commerce.payments import Payment
from server.commerce.orders import service as orders
from server.commerce.payments import service as payments
from server.commerce.payments.gateways.base import Notice
from server.identity.auth import service as auth_service
from server.outbox import Event
from server.runtime import Runtime
from tests.conftest import make_settings, relaying_runtime
from tests.fakes.alipay import FakeAlipay


class Events:
    """No Socket.IO here: the tests look at the database, not at the events."""

    async def send(self, event: Event) -> None:
        pass


@pytest.fixture
async def runtime(database_url: str, alipay: FakeAlipay) -> AsyncIterator[Runtime]:
    """The web side on the test database and Redis DB, paying through the fake Alipay."""
    settings = make_settings(database_url=database_url, **alipay.settings())
    async with relaying_runtime(settings, Events()) as found:
        yield found


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


async def pending_payment(runtime: Runtime, *, email: str, provider: str) -> tuple[int, Payment]:
    """A buyer's pending order of a 100-credit pack for 6 yuan with a payment open through
    `provider`: (buyer id, payment)."""
    now = runtime.clock.now()
    async with runtime.db.unit_of_work() as uow:
        user_id = await auth_service.create_user(
            uow.session,
            runtime.pii,
            email=email,
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
            uow, order_id=order.id, user_id=user_id, provider=provider, now=now, query_after=3600
        )
    return user_id, payment


async def paid_order_with_refund(runtime: Runtime, fake: FakeAlipay) -> tuple[int, int]:
    """A buyer, a paid order (through Alipay) and a refund asked for: (order id, refund id)."""
    now = runtime.clock.now()
    user_id, payment = await pending_payment(runtime, email="crash@example.com", provider="alipay")
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
            order_id=payment.order_id,
            actor_id=user_id,
            admin=False,
            amount=None,
            reason="crash test",
            window_days=7,
            now=now,
        )
    return payment.order_id, refund.id
