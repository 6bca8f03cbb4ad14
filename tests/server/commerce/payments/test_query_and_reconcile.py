"""The query fallback for payments whose callback never came, and the daily reconciliation of
gateway bills against our payments and refunds."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient
from arq.worker import Retry
from sqlalchemy import func, select, update

from jobs import payments as jobs
from models.commerce.payments import Payment
from models.notify.notifications import Notification
from server.commerce.payments import followup
from server.runtime import Runtime
from tests.helpers.payments import (
    Fakes,
    alipay_form,
    deliver,
    open_payment,
    pending_order,
    snapshot,
)
from tests.helpers.people import Person, call
from tests.helpers.subscriptions import MovableClock


async def test_a_silent_payment_is_found_by_asking_the_gateway(
    api: TestClient, buyer: Person, fakes: Fakes, runtime: Runtime
) -> None:
    order = await pending_order(api, buyer)
    payment = await open_payment(api, buyer, order["id"], "wechat")
    ctx = {"runtime": runtime, "job_try": 1}
    assert await jobs.query_payment(ctx, payment_id=payment["id"]) == "pending"
    fakes.wechat.pay(payment["out_trade_no"])  # paid, but the callback is lost
    assert await jobs.query_payment(ctx, payment_id=payment["id"]) == "paid"
    assert await jobs.query_payment(ctx, payment_id=payment["id"]) == "settled"
    state = await snapshot(runtime, order["id"])
    assert state.order_status in ("paid", "fulfilled")
    assert (state.events, state.payment_postings, state.paid_notifications) == (1, 1, 1)
    # The late callback changes nothing more.
    headers, body = fakes.wechat.paid_notification(payment["out_trade_no"], payment["amount"])
    assert (await deliver(api, "wechat", headers, body)).status == 200
    assert (await snapshot(runtime, order["id"])).payment_postings == 1


async def test_the_sweep_asks_about_payments_older_than_the_delay(
    api: TestClient, buyer: Person, fakes: Fakes, runtime: Runtime
) -> None:
    order = await pending_order(api, buyer)
    payment = await open_payment(api, buyer, order["id"], "alipay")
    ctx = {"runtime": runtime, "job_try": 1}
    assert await jobs.query_silent(ctx) == 0  # too young to ask about
    async with runtime.db.unit_of_work() as uow:
        await uow.session.execute(
            update(Payment)
            .where(Payment.id == payment["id"])
            .values(created_at=runtime.clock.now() - timedelta(minutes=6))
        )
    fakes.alipay.pay(payment["out_trade_no"])
    assert await jobs.query_silent(ctx) == 1
    assert (await snapshot(runtime, order["id"])).payments == ["succeeded"]


async def test_a_gateway_outage_retries_the_query(
    api: TestClient, buyer: Person, fakes: Fakes, runtime: Runtime
) -> None:
    order = await pending_order(api, buyer)
    payment = await open_payment(api, buyer, order["id"], "stripe")
    fakes.stripe.fail_next = 1
    with pytest.raises(Retry):
        await jobs.query_payment({"runtime": runtime, "job_try": 1}, payment_id=payment["id"])
    assert await followup.query_payment(runtime, payment_id=payment["id"]) == "pending"


async def test_paid_after_the_timeout_cancelled_revives_the_order(
    api: TestClient, buyer: Person, fakes: Fakes, runtime: Runtime
) -> None:
    order = await pending_order(api, buyer)
    payment = await open_payment(api, buyer, order["id"], "alipay")
    await call(api, "POST", f"/orders/{order['id']}/cancel", buyer, 200)
    headers, body = alipay_form(fakes.alipay.pay(payment["out_trade_no"]))
    assert (await deliver(api, "alipay", headers, body)).status == 200
    state = await snapshot(runtime, order["id"])
    assert state.order_status in ("paid", "fulfilled") and state.refunds == []


def stop_the_clock(runtime: Runtime) -> date:
    """Hold the app's (and so the gateways') clock at now; today's business day.

    Every payment of the test then falls on that day, even a run that starts at 23:59:59.
    """
    runtime.clock = MovableClock(runtime.clock.now())
    return runtime.clock.now().astimezone(ZoneInfo(runtime.settings.business_tz)).date()


async def pay(api: TestClient, buyer: Person, fakes: Fakes, provider: str) -> dict:
    order = await pending_order(api, buyer)
    payment = await open_payment(api, buyer, order["id"], provider)
    if provider == "alipay":
        headers, body = alipay_form(fakes.alipay.pay(payment["out_trade_no"]))
    else:
        headers, body = fakes.wechat.pay(payment["out_trade_no"])
    assert (await deliver(api, provider, headers, body)).status == 200
    return payment


async def test_reconciliation_finds_what_bills_and_records_disagree_on(
    api: TestClient, buyer: Person, admin: Person, fakes: Fakes, runtime: Runtime
) -> None:
    day = stop_the_clock(runtime)
    ours_alipay = await pay(api, buyer, fakes, "alipay")
    ours_wechat = await pay(api, buyer, fakes, "wechat")
    fakes.alipay.add_bill_row(
        day.isoformat(),
        trade_no="2026X",
        kind="交易",
        amount=600,
        out_trade_no=ours_alipay["out_trade_no"],
    )
    fakes.alipay.add_bill_row(
        day.isoformat(), trade_no="2026Y", kind="交易", amount=100, out_trade_no="P-not-ours"
    )
    fakes.wechat.add_bill_row(
        day.isoformat(),
        transaction_id="4200X",
        amount=500,
        out_trade_no=ours_wechat["out_trade_no"],
    )
    # Marked paid by hand: the bill has it, the ledger does not.
    unposted = await open_payment(api, buyer, (await pending_order(api, buyer))["id"], "alipay")
    async with runtime.db.unit_of_work() as uow:
        await uow.session.execute(
            update(Payment)
            .where(Payment.id == unposted["id"])
            .values(status="succeeded", paid_at=runtime.clock.now())
        )
    fakes.alipay.add_bill_row(
        day.isoformat(),
        trade_no="2026Z",
        kind="交易",
        amount=600,
        out_trade_no=unposted["out_trade_no"],
    )
    ctx = {"runtime": runtime, "job_try": 1}
    assert await jobs.reconcile(ctx, day=day.isoformat()) == {
        "alipay": "mismatched",
        "wechat": "mismatched",
    }
    assert await jobs.reconcile(ctx, day=day.isoformat()) == {
        "alipay": "mismatched",
        "wechat": "mismatched",
    }

    runs = await call(api, "GET", "/admin/payments/reconciliations", admin, 200)
    assert len(runs["items"]) == 2
    details = {
        run["provider"]: await call(
            api, "GET", f"/admin/payments/reconciliations/{run['id']}", admin, 200
        )
        for run in runs["items"]
    }
    assert [(m["kind"], m["reference"]) for m in details["alipay"]["mismatches"]] == [
        ("missing_here", "P-not-ours"),
        ("missing_in_ledger", unposted["out_trade_no"]),
    ]
    assert details["alipay"]["matched"] == 2
    wechat = details["wechat"]["mismatches"]
    assert [(m["kind"], m["ours"], m["theirs"]) for m in wechat] == [("amount_differs", 600, 500)]
    async with runtime.db.read() as session:
        told = await session.scalar(
            select(func.count()).select_from(Notification).where(Notification.user_id == admin.id)
        )
    assert told == 2
    await call(api, "GET", "/admin/payments/reconciliations", buyer, 403)
    await call(api, "GET", "/admin/payments/reconciliations/999999", admin, 404)


async def test_a_failed_bill_download_is_recorded_and_retried(
    api: TestClient, buyer: Person, admin: Person, fakes: Fakes, runtime: Runtime
) -> None:
    day = stop_the_clock(runtime)
    payment = await pay(api, buyer, fakes, "alipay")
    fakes.alipay.add_bill_row(
        day.isoformat(),
        trade_no="2026X",
        kind="交易",
        amount=600,
        out_trade_no=payment["out_trade_no"],
    )
    ctx = {"runtime": runtime, "job_try": 1}
    fakes.alipay.fail_next = 1
    assert (await jobs.reconcile(ctx, day=day.isoformat()))["alipay"] == "failed"
    results = await jobs.reconcile(ctx, day=day.isoformat())
    assert results == {"alipay": "matched", "wechat": "matched"}
    runs = await call(api, "GET", "/admin/payments/reconciliations?limit=1", admin, 200)
    assert len(runs["items"]) == 1 and runs["next_cursor"]
    more = await call(
        api,
        "GET",
        f"/admin/payments/reconciliations?limit=1&cursor={runs['next_cursor']}",
        admin,
        200,
    )
    assert len(more["items"]) == 1 and more["next_cursor"] is None
