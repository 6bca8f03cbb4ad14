"""Issue 13 with real processes: the "paid" delivery is refused while one web process's database
is cut off, the gateway's refund of that payment comes to the other one and is kept; when the
database returns, "paid" and the refund's retries come again over both processes at once, in
any order, and the order is refunded once: one refund, one ledger reversal, the credits taken
back, the money invariants intact."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import aiohttp
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from models.commerce.ledger import LedgerTransaction
from models.commerce.orders import Order
from models.commerce.payments import Refund
from server.commerce.payments.gateways.sandbox import SandboxGateway
from server.commerce.wallet import service as wallet
from server.runtime import Runtime
from tests.invariants import assert_money_invariants
from tests.system.conftest import MakeProxy, StartWeb
from tests.system.payments import pending_payment

SECRET = "sandbox-secret-of-the-system-tests"


async def post(session: aiohttp.ClientSession, url: str, body: bytes, gateway: Any) -> int:
    async with session.post(
        f"{url}/api/v1/payments/sandbox/notify", data=body, headers=gateway.sign(body)
    ) as response:
        return response.status


async def test_refund_before_a_paid_refused_in_an_outage_applies_once_it_comes_again(
    start_web: StartWeb,
    fault_proxy: MakeProxy,
    database_url: str,
    runtime: Runtime,
    engine: AsyncEngine,
) -> None:
    proxy = await fault_proxy(database_url)
    webs = [
        await start_web(payment_sandbox_secret=SECRET),
        await start_web(payment_sandbox_secret=SECRET, database_url=proxy.url(database_url)),
    ]
    gateway = SandboxGateway(secret=SECRET.encode(), public_base_url="", tolerance_seconds=300)
    buyer, payment = await pending_payment(
        runtime, email="early-refund@example.com", provider="sandbox"
    )
    order_id, no = payment.order_id, payment.out_trade_no
    refund = gateway.refund_callback(no, 600, "RF-early")
    paid = gateway.paid_callback(no, 600)

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        proxy.cut()
        assert await post(session, webs[1].url, paid, gateway) >= 500  # not taken: sent again
        assert await post(session, webs[0].url, refund, gateway) == 200
        proxy.restore()
        async with runtime.db.read() as db:
            status = await db.scalar(select(Refund.status).where(Refund.order_id == order_id))
        assert status == "awaiting_payment"

        shuffle = random.Random(5)
        left = [paid] * 6 + [refund] * 6
        shuffle.shuffle(left)
        for _ in range(5):  # what is refused comes again, as the gateway would send it
            answers = await asyncio.gather(
                *(post(session, shuffle.choice(webs).url, body, gateway) for body in left)
            )
            left = [body for body, answer in zip(left, answers, strict=True) if answer != 200]
            if not left:
                break
        assert not left

    async with runtime.db.read() as db:
        order = await db.get(Order, order_id)
        assert order is not None and (order.status, order.refunded_amount) == ("refunded", 600)
        refunds = (await db.execute(select(Refund.kind, Refund.status, Refund.amount))).all()
        assert [tuple(r) for r in refunds] == [("order", "succeeded", 600)]
        reversals = await db.scalar(
            select(func.count())
            .select_from(LedgerTransaction)
            .where(LedgerTransaction.kind == "refund")
        )
        assert reversals == 1
        assert await wallet.balance(db, user_id=buyer) == 0
    await assert_money_invariants(engine)
