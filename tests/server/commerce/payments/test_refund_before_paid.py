"""Issue 13: a refund or a dispute that a gateway delivers before its "paid" event is kept, never
acknowledged and dropped, and applied in the transaction that applies "paid": the order is
refunded, what it bought is taken back, the ledger reversed, once, however the deliveries of
both events interleave. Every gateway (Alipay, WeChat Pay, Stripe, the sandbox)."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from jobs import payments as jobs
from models.commerce.ledger import LedgerTransaction
from models.commerce.orders import Order
from models.commerce.payments import ReconciliationMismatch, Refund
from models.content.items import Entitlement
from models.notify.notifications import Notification
from server.commerce.payments import followup
from server.commerce.wallet import service as wallet
from server.runtime import Runtime
from tests.fakes.alipay import yuan
from tests.helpers.env import on_both_engines
from tests.helpers.orders import checkout, paid_content, product
from tests.helpers.payments import (
    TAKEN,
    Delivery,
    Fakes,
    alipay_form,
    deliver,
    open_payment,
    paid_callback,
    sandbox,
    snapshot,
    stripe_intent,
)
from tests.helpers.people import Person, call, person
from tests.invariants import assert_money_invariants
from tests.server.commerce.payments.test_query_and_reconcile import stop_the_clock
from tests.server.commerce.payments.test_refunds import run_refund_job

PROVIDERS = ["alipay", "wechat", "stripe", "sandbox"]
DISPUTING = ["stripe", "sandbox"]  # the gateways that report chargebacks
TOTAL = 1590  # a credit pack (600) and a creator's article (990)


@dataclass
class Paying:
    """An order opened for payment at one gateway, and the events that gateway would send."""

    provider: str
    order: dict[str, Any]
    payment: dict[str, Any]
    fakes: Fakes
    runtime: Runtime

    @property
    def no(self) -> str:
        return str(self.payment["out_trade_no"])

    @property
    def intent(self) -> str:
        return stripe_intent(self.fakes, self.no)

    def paid(self) -> Delivery:
        """The gateway takes the money (its own record says paid) and tells us."""
        return paid_callback(self.fakes, self.runtime, self.provider, self.payment)

    def refund(self, amount: int, ref: str, *, refunded_total: int | None = None) -> Delivery:
        """A refund made at the gateway (dashboard, merchant portal), not asked for by us."""
        if self.provider == "alipay":  # Alipay names the refunded total so far
            total = refunded_total or amount
            status = "TRADE_CLOSED" if total == TOTAL else "TRADE_SUCCESS"
            fields = {"out_biz_no": ref, "refund_fee": yuan(total), "trade_status": status}
            return alipay_form(self.fakes.alipay.paid_notification(self.no, TOTAL, **fields))
        if self.provider == "wechat":
            resource = {
                "mchid": self.fakes.wechat.mchid,
                "out_trade_no": self.no,
                "out_refund_no": ref,
                "refund_id": f"50{ref}",
                "refund_status": "SUCCESS",
                "amount": {"refund": amount, "total": TOTAL, "currency": "CNY"},
            }
            return self.fakes.wechat.notification("REFUND.SUCCESS", resource)
        if self.provider == "stripe":
            refund = {
                "id": ref,
                "object": "refund",
                "amount": amount,
                "status": "succeeded",
                "payment_intent": self.intent,
                "metadata": {},
            }
            return self.fakes.stripe.event("refund.updated", refund)
        gateway = sandbox(self.runtime)
        body = gateway.refund_callback(self.no, amount, ref)
        return gateway.sign(body), body

    def dispute(self, amount: int, ref: str) -> Delivery:
        if self.provider == "stripe":
            dispute = {
                "id": ref,
                "object": "dispute",
                "amount": amount,
                "payment_intent": self.intent,
            }
            return self.fakes.stripe.event("charge.dispute.created", dispute)
        gateway = sandbox(self.runtime)
        body = gateway.dispute_callback(self.no, amount, ref)
        return gateway.sign(body), body

    async def send(self, api: TestClient, delivery: Delivery) -> tuple[int, str]:
        response = await deliver(api, self.provider, *delivery)
        return response.status, await response.text()

    async def taken(self, api: TestClient, delivery: Delivery) -> None:
        status, text = await self.send(api, delivery)
        assert TAKEN[self.provider](status, text), (status, text)


@dataclass
class Taken:
    """What the buyer holds and what the books say after the events."""

    order_status: str
    refunded_amount: int
    refunds: list[tuple[str, str, int]]
    payment_postings: int
    refund_postings: int
    credits: int
    entitlements: int
    refund_notices: int


async def opened(
    api: TestClient, buyer: Person, fakes: Fakes, runtime: Runtime, provider: str
) -> Paying:
    """The buyer's order of a credit pack and a creator's article, opened for payment at
    `provider`."""
    creator = await person(api)
    content_id = await paid_content(runtime, creator.id)
    pack = await product(api, price=600, credits=100)
    article = await product(
        api, kind="content", price=990, credits=None, content_id=content_id, creator_id=creator.id
    )
    order = await checkout(api, buyer, [(pack, 1), (article, 1)])
    payment = await open_payment(api, buyer, order["id"], provider)
    return Paying(provider, order, payment, fakes, runtime)


@pytest.fixture
async def paying(
    api: TestClient, buyer: Person, fakes: Fakes, runtime: Runtime, provider: str
) -> Paying:
    """`opened` at the gateway a test is parametrized with (`provider`)."""
    return await opened(api, buyer, fakes, runtime, provider)


async def taken(runtime: Runtime, buyer: Person, order_id: int) -> Taken:
    state = await snapshot(runtime, order_id)
    async with runtime.db.read() as session:
        order = await session.get(Order, order_id)
        assert order is not None
        reversals = await session.scalar(
            select(func.count())
            .select_from(LedgerTransaction)
            .where(
                LedgerTransaction.kind == "refund",
                LedgerTransaction.reference.like(f"order:{order_id}:%"),
            )
        )
        held = await session.scalar(
            select(func.count())
            .select_from(Entitlement)
            .where(Entitlement.user_id == buyer.id, Entitlement.revoked_at.is_(None))
        )
        notices = await session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.user_id == buyer.id, Notification.type == "order.refunded")
        )
        credits = await wallet.balance(session, user_id=buyer.id)
    return Taken(
        state.order_status,
        order.refunded_amount,
        state.refunds,
        state.payment_postings,
        int(reversals or 0),
        credits,
        int(held or 0),
        int(notices or 0),
    )


REFUNDED_ONCE = Taken("refunded", TOTAL, [("order", "succeeded", TOTAL)], 1, 1, 0, 0, 1)


@on_both_engines
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_refund_before_paid_is_applied_when_paid_arrives(
    api: TestClient,
    buyer: Person,
    runtime: Runtime,
    engine: AsyncEngine,
    engine_kind: str,
    paying: Paying,
) -> None:
    paid = paying.paid()
    refund = paying.refund(TOTAL, "RF1")
    await paying.taken(api, refund)  # kept, so the gateway may stop sending it
    waiting = await taken(runtime, buyer, paying.order["id"])
    assert waiting == Taken(
        "pending_payment", 0, [("order", "awaiting_payment", TOTAL)], 0, 0, 0, 0, 0
    )

    await paying.taken(api, paid)
    assert await taken(runtime, buyer, paying.order["id"]) == REFUNDED_ONCE
    for delivery in (refund, paid):  # late duplicates of either change nothing
        await paying.taken(api, delivery)
    assert await taken(runtime, buyer, paying.order["id"]) == REFUNDED_ONCE
    if engine_kind == "mariadb":
        await assert_money_invariants(engine)


@pytest.mark.parametrize("provider", DISPUTING)
async def test_dispute_before_paid_is_applied_when_paid_arrives(
    api: TestClient,
    buyer: Person,
    runtime: Runtime,
    engine: AsyncEngine,
    paying: Paying,
) -> None:
    paid = paying.paid()
    dispute = paying.dispute(TOTAL, "dp_1")
    await paying.taken(api, dispute)
    assert (await snapshot(runtime, paying.order["id"])).refunds == [
        ("order", "awaiting_payment", TOTAL)
    ]
    await paying.taken(api, paid)
    await paying.taken(api, dispute)
    state = await taken(runtime, buyer, paying.order["id"])
    assert state == REFUNDED_ONCE
    async with runtime.db.read() as session:
        reason = await session.scalar(
            select(Refund.reason).where(Refund.order_id == paying.order["id"])
        )
    assert reason == "chargeback"
    await assert_money_invariants(engine)


async def deliver_until_taken(api: TestClient, paying: Paying, deliveries: list[Delivery]) -> None:
    """Everything at once, as a provider's retries and a replayed outage backlog would come;
    what is refused (a deadlock victim answers 503) comes again, as the provider would send it."""
    left = deliveries
    for _ in range(6):
        answers = await asyncio.gather(*(paying.send(api, d) for d in left))
        left = [d for d, a in zip(left, answers, strict=True) if not TAKEN[paying.provider](*a)]
        if not left:
            return
        assert all(status >= 500 for status, _ in answers if status != 200), answers
    raise AssertionError(f"{len(left)} deliveries never taken")


@on_both_engines
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_refund_and_paid_storm_applies_the_refund_once(
    api: TestClient,
    buyer: Person,
    runtime: Runtime,
    engine: AsyncEngine,
    engine_kind: str,
    paying: Paying,
) -> None:
    paid = paying.paid()
    refunds = [paying.refund(TOTAL, "RF1") for _ in range(2)]  # the gateway's retries
    deliveries = [paid] * 5 + refunds * 3
    random.Random(13).shuffle(deliveries)
    # The query fallback (which also applies "paid") races the callbacks.
    query = followup.query_payment(runtime, payment_id=paying.payment["id"])
    await asyncio.gather(deliver_until_taken(api, paying, deliveries), query)
    assert await taken(runtime, buyer, paying.order["id"]) == REFUNDED_ONCE
    if engine_kind == "mariadb":
        await assert_money_invariants(engine)


@pytest.mark.parametrize("provider", DISPUTING)
async def test_refund_dispute_and_paid_storm_applies_each_once(
    api: TestClient,
    buyer: Person,
    runtime: Runtime,
    engine: AsyncEngine,
    paying: Paying,
) -> None:
    paid = paying.paid()
    refund = paying.refund(600, "RF1")
    disputes = [paying.dispute(990, "dp_1") for _ in range(2)]  # Stripe: two event ids
    deliveries = [paid] * 4 + [refund] * 4 + disputes * 2
    random.Random(31).shuffle(deliveries)
    await deliver_until_taken(api, paying, deliveries)
    state = await taken(runtime, buyer, paying.order["id"])
    assert (state.order_status, state.refunded_amount) == ("refunded", TOTAL)
    assert sorted(state.refunds) == [("order", "succeeded", 600), ("order", "succeeded", 990)]
    assert (state.payment_postings, state.refund_postings, state.credits, state.entitlements) == (
        1,
        2,
        0,
        0,
    )
    await assert_money_invariants(engine)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_partial_refunds_before_paid_apply_in_order(
    api: TestClient,
    buyer: Person,
    runtime: Runtime,
    engine: AsyncEngine,
    paying: Paying,
) -> None:
    paid = paying.paid()
    await paying.taken(api, paying.refund(600, "RF1"))
    await paying.taken(api, paying.refund(200, "RF2", refunded_total=800))
    await paying.taken(api, paid)
    state = await taken(runtime, buyer, paying.order["id"])
    assert (state.order_status, state.refunded_amount) == ("partially_refunded", 800)
    assert state.refunds == [("order", "succeeded", 600), ("order", "succeeded", 200)]
    assert (state.refund_postings, state.entitlements) == (2, 1)  # the article is kept
    await assert_money_invariants(engine)


async def test_refund_before_a_paid_event_that_never_comes_applies_with_the_query(
    api: TestClient, buyer: Person, fakes: Fakes, runtime: Runtime, engine: AsyncEngine
) -> None:
    paying = await opened(api, buyer, fakes, runtime, "stripe")
    paying.paid()  # paid at Stripe; the webhook is lost
    await paying.taken(api, paying.refund(TOTAL, "re_1"))
    assert await followup.query_payment(runtime, payment_id=paying.payment["id"]) == "paid"
    assert await taken(runtime, buyer, paying.order["id"]) == REFUNDED_ONCE
    await assert_money_invariants(engine)


async def test_a_waiting_refund_is_never_asked_of_the_gateway(
    api: TestClient, buyer: Person, fakes: Fakes, runtime: Runtime
) -> None:
    paying = await opened(api, buyer, fakes, runtime, "stripe")
    await paying.taken(api, paying.refund(TOTAL, "re_1"))
    async with runtime.db.read() as session:
        refund_id = await session.scalar(
            select(Refund.id).where(Refund.order_id == paying.order["id"])
        )
    assert await run_refund_job(runtime, refund_id) == "awaiting_payment"
    assert fakes.stripe.calls_to("/v1/refunds") == []


async def test_a_waiting_refund_that_fails_at_the_gateway_is_not_applied(
    api: TestClient, buyer: Person, fakes: Fakes, runtime: Runtime, engine: AsyncEngine
) -> None:
    paying = await opened(api, buyer, fakes, runtime, "stripe")
    paid = paying.paid()
    await paying.taken(api, paying.refund(TOTAL, "re_1"))
    failed = {
        "id": "re_1",
        "object": "refund",
        "amount": TOTAL,
        "status": "failed",
        "payment_intent": paying.intent,
        "metadata": {},
    }
    await paying.taken(api, fakes.stripe.event("refund.failed", failed))
    await paying.taken(api, paid)
    state = await taken(runtime, buyer, paying.order["id"])
    assert (state.order_status, state.refunds) == ("fulfilled", [("order", "failed", TOTAL)])
    assert (state.refund_postings, state.credits, state.entitlements) == (0, 100, 1)
    await assert_money_invariants(engine)


async def cancelled_and_sold_out(
    api: TestClient, buyer: Person, fakes: Fakes, runtime: Runtime, provider: str
) -> Paying:
    """An order of the last copy of a book, opened for payment at `provider`, then cancelled and
    the copy sold to someone else: a payment of it can never be taken by the order."""
    book = await product(api, kind="physical", title="纸质书", price=TOTAL, credits=None, stock=1)
    order = await checkout(api, buyer, [(book, 1)])
    payment = await open_payment(api, buyer, order["id"], provider)
    await call(api, "POST", f"/orders/{order['id']}/cancel", buyer, 200)
    await checkout(api, await person(api), [(book, 1)])  # the last copy goes to someone else
    return Paying(provider, order, payment, fakes, runtime)


@pytest.mark.parametrize("refunded", [TOTAL, 400])
async def test_refund_before_paid_of_money_the_order_never_took_is_not_given_back_twice(
    api: TestClient,
    buyer: Person,
    fakes: Fakes,
    runtime: Runtime,
    engine: AsyncEngine,
    refunded: int,
) -> None:
    paying = await cancelled_and_sold_out(api, buyer, fakes, runtime, "alipay")
    order = paying.order
    paid = paying.paid()
    await paying.taken(api, paying.refund(refunded, "RF1"))
    await paying.taken(api, paid)
    state = await snapshot(runtime, order["id"])
    assert (state.order_status, state.payment_postings) == ("cancelled", 0)
    rest = [("unclaimed", "pending", TOTAL - refunded)] if refunded < TOTAL else []
    assert state.refunds == [("unclaimed", "succeeded", refunded), *rest]
    await assert_money_invariants(engine)


async def test_more_taken_back_before_paid_than_a_never_taken_payment_held_is_reported(
    api: TestClient, buyer: Person, fakes: Fakes, runtime: Runtime, engine: AsyncEngine
) -> None:
    paying = await cancelled_and_sold_out(api, buyer, fakes, runtime, "stripe")
    order = paying.order
    paid = paying.paid()
    await paying.taken(api, paying.refund(TOTAL, "re_1"))
    await paying.taken(api, paying.dispute(TOTAL, "dp_1"))
    await paying.taken(api, paid)
    state = await snapshot(runtime, order["id"])
    assert state.order_status == "cancelled"
    assert state.refunds == [("unclaimed", "succeeded", TOTAL), ("unclaimed", "unapplied", TOTAL)]
    await assert_money_invariants(engine)


@pytest.mark.parametrize("refunded", [TOTAL, 400])
async def test_a_gateway_refund_of_a_payment_being_given_back_is_money_already_back(
    api: TestClient,
    buyer: Person,
    fakes: Fakes,
    runtime: Runtime,
    engine: AsyncEngine,
    refunded: int,
) -> None:
    paying = await cancelled_and_sold_out(api, buyer, fakes, runtime, "alipay")
    order = paying.order
    await paying.taken(api, paying.paid())
    await paying.taken(api, paying.refund(refunded, "RF-portal"))  # before our give-back ran
    state = await snapshot(runtime, order["id"])
    assert state.refunds == [("unclaimed", "pending", TOTAL), ("unclaimed", "succeeded", refunded)]
    for _ in range(2):  # the give-back's job, then the job of what replaced it (if anything)
        async with runtime.db.read() as session:
            pending = await session.scalars(
                select(Refund.id).where(Refund.order_id == order["id"], Refund.status == "pending")
            )
            for refund_id in pending.all():
                await run_refund_job(runtime, refund_id)
    rest = TOTAL - refunded
    expected = [("unclaimed", "failed", TOTAL), ("unclaimed", "succeeded", refunded)]
    if rest:  # the rest went back under a new number
        expected.append(("unclaimed", "succeeded", rest))
    assert (await snapshot(runtime, order["id"])).refunds == expected
    asked = [r["amount"] for r in fakes.alipay.refunds.values()]
    assert asked == ([rest] if rest else [])  # never the whole payment again
    await assert_money_invariants(engine)


async def test_a_dispute_after_the_give_back_went_back_is_kept_and_reported(
    api: TestClient, buyer: Person, fakes: Fakes, runtime: Runtime, engine: AsyncEngine
) -> None:
    paying = await cancelled_and_sold_out(api, buyer, fakes, runtime, "stripe")
    order = paying.order
    await paying.taken(api, paying.paid())
    async with runtime.db.read() as session:
        give_back = await session.scalar(select(Refund.id).where(Refund.order_id == order["id"]))
    assert await run_refund_job(runtime, give_back) == "succeeded"
    await paying.taken(api, paying.dispute(TOTAL, "dp_late"))  # money leaves twice
    state = await snapshot(runtime, order["id"])
    assert state.refunds == [("unclaimed", "succeeded", TOTAL), ("unclaimed", "unapplied", TOTAL)]
    await assert_money_invariants(engine)


async def test_an_alipay_refunded_total_that_does_not_add_up_is_kept_and_reported(
    api: TestClient, buyer: Person, admin: Person, fakes: Fakes, runtime: Runtime
) -> None:
    paying = await opened(api, buyer, fakes, runtime, "alipay")
    paid = paying.paid()
    await paying.taken(api, paying.refund(600, "RF1"))
    await paying.taken(api, paying.refund(0, "RF2", refunded_total=600))  # adds nothing
    await paying.taken(api, paid)
    state = await taken(runtime, buyer, paying.order["id"])
    assert (state.order_status, state.refunded_amount) == ("partially_refunded", 600)
    assert state.refunds == [("order", "succeeded", 600), ("order", "unapplied", 0)]


async def test_a_refund_the_order_cannot_take_is_kept_and_reported(
    api: TestClient,
    buyer: Person,
    admin: Person,
    fakes: Fakes,
    runtime: Runtime,
    engine: AsyncEngine,
) -> None:
    paying = await opened(api, buyer, fakes, runtime, "stripe")
    await paying.taken(api, paying.paid())
    ours = await call(api, "POST", f"/orders/{paying.order['id']}/refunds", buyer, 201, json={})
    assert await run_refund_job(runtime, ours["id"]) == "succeeded"
    await paying.taken(api, paying.dispute(TOTAL, "dp_late"))  # the buyer's bank, too
    state = await taken(runtime, buyer, paying.order["id"])
    assert (state.order_status, state.refund_postings) == ("refunded", 1)
    assert state.refunds == [("order", "succeeded", TOTAL), ("order", "unapplied", TOTAL)]
    async with runtime.db.read() as session:
        told = await session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.user_id == admin.id, Notification.type == "system.announcement")
        )
    assert told == 1
    await assert_money_invariants(engine)


async def test_a_dispute_overtaking_our_refund_leaves_that_refund_unasked(
    api: TestClient, buyer: Person, fakes: Fakes, runtime: Runtime, engine: AsyncEngine
) -> None:
    paying = await opened(api, buyer, fakes, runtime, "stripe")
    await paying.taken(api, paying.paid())
    ours = await call(api, "POST", f"/orders/{paying.order['id']}/refunds", buyer, 201, json={})
    await paying.taken(api, paying.dispute(TOTAL, "dp_1"))  # before the refund job runs
    assert await run_refund_job(runtime, ours["id"]) == "failed"
    assert fakes.stripe.calls_to("/v1/refunds") == []
    state = await taken(runtime, buyer, paying.order["id"])
    assert (state.order_status, state.refund_postings) == ("refunded", 1)
    assert state.refunds == [("order", "failed", TOTAL), ("order", "succeeded", TOTAL)]
    await assert_money_invariants(engine)


async def test_reconciliation_counts_a_waiting_refund_only_once_applied(
    api: TestClient, buyer: Person, fakes: Fakes, runtime: Runtime
) -> None:
    today = stop_the_clock(runtime)
    paying = await opened(api, buyer, fakes, runtime, "alipay")
    paid = paying.paid()
    await paying.taken(api, paying.refund(TOTAL, "RF1"))
    trade_no = fakes.alipay.trades[paying.no]["trade_no"]
    tomorrow = (today + timedelta(days=1)).isoformat()
    # Alipay's bills: paid and refunded today; our refund completes tomorrow, with "paid".
    for day, kind, refund_no in (
        (today.isoformat(), "交易", ""),
        (today.isoformat(), "退款", "RF1"),
        (tomorrow, "退款", "RF1"),
    ):
        fakes.alipay.add_bill_row(
            day,
            trade_no=trade_no,
            out_trade_no=paying.no,
            kind=kind,
            amount=TOTAL,
            refund_no=refund_no,
        )
    ctx = {"runtime": runtime, "job_try": 1}
    assert (await jobs.reconcile(ctx, day=today.isoformat()))["alipay"] == "mismatched"
    async with runtime.db.read() as session:
        found = await session.execute(
            select(ReconciliationMismatch.kind, ReconciliationMismatch.reference).order_by(
                ReconciliationMismatch.reference
            )
        )
        assert sorted(found.all()) == [("missing_here", paying.no), ("missing_here", "RF1")]
    runtime.clock.move(days=1)  # type: ignore[attr-defined]
    await paying.taken(api, paid)
    assert (await jobs.reconcile(ctx, day=tomorrow))["alipay"] == "matched"


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_refund_of_an_unknown_payment_is_refused_so_it_comes_again(
    api: TestClient, runtime: Runtime, provider: str, paying: Paying
) -> None:
    if provider == "stripe":
        paying.fakes.stripe.intents["pi_unknown"] = {"metadata": {"out_trade_no": "P-unknown"}}
    paying.payment = {**paying.payment, "out_trade_no": "P-unknown"}
    status, _ = await paying.send(api, paying.refund(TOTAL, "RF1"))
    assert status == 404
    assert (await snapshot(runtime, paying.order["id"])).refunds == []


async def test_a_dispute_naming_no_payment_is_refused(
    api: TestClient, buyer: Person, fakes: Fakes, runtime: Runtime
) -> None:
    headers, body = fakes.stripe.event("charge.dispute.created", {"id": "dp_1", "amount": 600})
    assert (await deliver(api, "stripe", headers, body)).status == 404
    gateway = sandbox(runtime)
    for event in ({"type": "refund.succeeded"}, {"type": "dispute.created", "dispute_id": 7}):
        raw = orjson.dumps({"event_id": "e1", "out_trade_no": "P1", **event})
        assert (await deliver(api, "sandbox", gateway.sign(raw), raw)).status == 400
