"""Payments helpers: the fake gateways, orders to pay, callbacks, what changed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from models.commerce.ledger import LedgerTransaction
from models.commerce.orders import Order
from models.commerce.payments import Payment, PaymentEvent, Refund
from models.notify.notifications import Notification
from server.commerce.payments.gateways.registry import gateways
from server.commerce.payments.gateways.sandbox import SandboxGateway
from server.runtime import Runtime
from tests.fakes.alipay import FakeAlipay
from tests.fakes.stripe import FakeStripe
from tests.fakes.wechat import FakeWechatPay
from tests.helpers.orders import checkout, deliver_paid, product
from tests.helpers.people import Person, call

SANDBOX_SECRET = "sandbox-secret-of-the-tests"
Delivery = tuple[dict[str, str], str | bytes]
# What each gateway takes for "we have it, stop sending".
TAKEN: dict[str, Callable[[int, str], bool]] = {
    "alipay": lambda status, text: status == 200 and text == "success",
    "wechat": lambda status, text: status == 200 and '"SUCCESS"' in text,
    "stripe": lambda status, text: status == 200,
    "sandbox": lambda status, text: status == 200,
}


@dataclass
class Fakes:
    alipay: FakeAlipay
    wechat: FakeWechatPay
    stripe: FakeStripe

    def settings(self) -> dict[str, Any]:
        return {**self.alipay.settings(), **self.wechat.settings(), **self.stripe.settings()}

    def follow(self, runtime: Runtime) -> None:
        for fake in (self.alipay, self.wechat, self.stripe):
            fake.follow(runtime)


def sandbox(runtime: Runtime) -> SandboxGateway:
    gateway = gateways(runtime)["sandbox"]
    assert isinstance(gateway, SandboxGateway)
    return gateway


async def pending_order(api: TestClient, buyer: Person, price: int = 600) -> dict[str, Any]:
    product_id = await product(api, price=price)
    return await checkout(api, buyer, [(product_id, 1)])


async def open_payment(
    api: TestClient, buyer: Person, order_id: int, provider: str, status: int = 201
) -> dict[str, Any]:
    result: dict[str, Any] = await call(
        api, "POST", f"/orders/{order_id}/payments", buyer, status, json={"provider": provider}
    )
    return result


async def deliver(
    api: TestClient, provider: str, headers: dict[str, str], body: str | bytes
) -> ClientResponse:
    return await api.post(f"/api/v1/payments/{provider}/notify", data=body, headers=headers)


def alipay_form(params: dict[str, str]) -> tuple[dict[str, str], str]:
    from urllib.parse import urlencode

    return {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}, urlencode(params)


def stripe_intent(fakes: Fakes, out_trade_no: str) -> str:
    """The id of the Stripe PaymentIntent opened for `out_trade_no`."""
    found = fakes.stripe.intents
    return next(i for i, x in found.items() if x["metadata"]["out_trade_no"] == out_trade_no)


def paid_callback(
    fakes: Fakes, runtime: Runtime, provider: str, payment: dict[str, Any]
) -> Delivery:
    """The gateway takes the money (its own record says paid) and tells us: (headers, body)."""
    no = payment["out_trade_no"]
    if provider == "alipay":
        return alipay_form(fakes.alipay.pay(no))
    if provider == "wechat":
        return fakes.wechat.pay(no)
    if provider == "stripe":
        return fakes.stripe.succeed(stripe_intent(fakes, no))
    gateway = sandbox(runtime)
    body = gateway.paid_callback(no, payment["amount"])
    return gateway.sign(body), body


@dataclass
class Snapshot:
    order_status: str
    payments: list[str]
    events: int
    payment_postings: int
    paid_notifications: int
    refunds: list[tuple[str, str, int]]


async def snapshot(runtime: Runtime, order_id: int, *, delivered: bool = True) -> Snapshot:
    """The order's payment state; by default once the deliveries its payments queued are done
    (what the worker does: `orders.fulfil`)."""
    if delivered:
        await deliver_paid(runtime)
    async with runtime.db.read() as session:
        order = await session.get(Order, order_id)
        assert order is not None
        payments = await session.scalars(
            select(Payment.status).where(Payment.order_id == order_id).order_by(Payment.id)
        )
        events = await session.scalar(
            select(func.count()).select_from(PaymentEvent).where(PaymentEvent.order_id == order_id)
        )
        postings = await session.scalar(
            select(func.count())
            .select_from(LedgerTransaction)
            .where(LedgerTransaction.reference == f"order:{order_id}")
        )
        notes = await session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.user_id == order.user_id, Notification.type == "order.paid")
        )
        refunds = await session.execute(
            select(Refund.kind, Refund.status, Refund.amount)
            .where(Refund.order_id == order_id)
            .order_by(Refund.id)
        )
        return Snapshot(
            order.status,
            list(payments.all()),
            int(events or 0),
            int(postings or 0),
            int(notes or 0),
            [tuple(row) for row in refunds.all()],  # type: ignore[misc]
        )
