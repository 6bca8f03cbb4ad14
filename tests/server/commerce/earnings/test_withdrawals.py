"""Withdrawals: rules, admin review, payouts through Alipay and WeChat Pay, money returned on
rejection or failure, refunds after a withdrawal, and who may see or decide what."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from jobs.earnings import check_payouts, pay_out, settle_due
from models.audit import AdminLog
from server.commerce.earnings.withdrawals import transfer_number
from server.runtime import Runtime
from tests.helpers.earnings import (
    REAL_NAME,
    Channels,
    balance,
    creator_balances,
    creator_plan,
    refund,
    sell,
    verified_creator,
)
from tests.helpers.people import call
from tests.helpers.subscriptions import Member, MovableClock, member, notification_types


async def _settled_sale(
    api: TestClient, runtime: Runtime, clock: MovableClock, creator: Member, price: int
) -> int:
    """A sale of `price` to a new buyer, settled: the creator has 80% available."""
    buyer = await member(api)
    plan = await creator_plan(runtime, creator.id, price=price)
    order_id = await sell(runtime, buyer_id=buyer.id, product_id=plan, at=clock.now())
    clock.move(days=9)
    await settle_due({"runtime": runtime})
    return order_id


def _clock(runtime: Runtime) -> MovableClock:
    clock = MovableClock(datetime.now(UTC) - timedelta(days=20))
    runtime.clock = clock
    return clock


async def test_alipay_withdrawal_from_request_to_paid(
    api: TestClient, runtime: Runtime, channels: Channels
) -> None:
    clock = _clock(runtime)
    creator, admin = await verified_creator(api), await member(api, "admin")
    await _settled_sale(api, runtime, clock, creator, price=10_000)
    assert await creator_balances(runtime, creator.id) == (0, 8_000)

    body = {"amount": 5_000, "channel": "alipay", "account": "13800138000"}
    headers = {**creator.headers, "Idempotency-Key": "w-1"}
    response = await api.post("/api/v1/earnings/withdrawals", json=body, headers=headers)
    assert response.status == 201
    asked = await response.json()
    again = await api.post("/api/v1/earnings/withdrawals", json=body, headers=headers)
    assert (await again.json())["id"] == asked["id"]  # replayed, not withdrawn twice
    assert asked["status"] == "requested"
    assert asked["account"] == "138****000"
    assert await creator_balances(runtime, creator.id) == (0, 3_000)
    summary = await call(api, "GET", "/earnings/summary", creator, 200)
    assert summary["withdrawing"] == 5_000

    queue = await call(api, "GET", "/admin/withdrawals?status=requested", admin, 200)
    assert [item["id"] for item in queue["items"]] == [asked["id"]]
    approved = await call(api, "POST", f"/admin/withdrawals/{asked['id']}/approve", admin, 200)
    assert approved["status"] == "approved"
    twice = await call(api, "POST", f"/admin/withdrawals/{asked['id']}/approve", admin, 409)
    assert twice["error"]["code"] == "earnings.withdrawal_reviewed"

    assert await pay_out({"runtime": runtime}, withdrawal_id=asked["id"]) == "paid"
    assert await pay_out({"runtime": runtime}, withdrawal_id=asked["id"]) is None
    sent = channels.alipay.transfers[transfer_number(asked["id"])]
    assert sent["amount"] == 5_000
    assert sent["payee"] == {
        "identity": "13800138000",
        "identity_type": "ALIPAY_LOGON_ID",
        "name": REAL_NAME,
    }
    paid = await call(api, "GET", f"/earnings/withdrawals/{asked['id']}", creator, 200)
    assert paid["status"] == "paid"
    assert paid["payout_ref"] == sent["order_id"]
    assert await balance(runtime, owner_type="platform", owner_id=0, purpose="payouts") == 0
    assert "withdrawal.updated" in await notification_types(runtime, creator.id)
    async with runtime.db.read() as session:
        actions = list(await session.scalars(select(AdminLog.action)))
    assert "withdrawal.approve" in actions


async def test_wechat_transfer_waiting_for_the_payee_is_checked_until_it_ends(
    api: TestClient, runtime: Runtime, channels: Channels
) -> None:
    clock = _clock(runtime)
    creator, admin = await verified_creator(api), await member(api, "admin")
    await _settled_sale(api, runtime, clock, creator, price=10_000)
    channels.wechat.outcome = "PENDING"
    body = {"amount": 8_000, "channel": "wechat", "account": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}
    asked = await call(api, "POST", "/earnings/withdrawals", creator, 201, json=body)
    await call(api, "POST", f"/admin/withdrawals/{asked['id']}/approve", admin, 200)
    assert await pay_out({"runtime": runtime}, withdrawal_id=asked["id"]) == "paying"
    bill = channels.wechat.bills[transfer_number(asked["id"])]
    assert bill["user_name"] == REAL_NAME  # encrypted for the platform key, decrypted by it

    assert await check_payouts({"runtime": runtime}) == 0  # too soon to ask
    clock.move(minutes=10)
    assert await check_payouts({"runtime": runtime}) == 0  # still waiting for the payee
    channels.wechat.finish(transfer_number(asked["id"]), "FAIL")
    clock.move(minutes=10)
    assert await check_payouts({"runtime": runtime}) == 1
    failed = await call(api, "GET", f"/earnings/withdrawals/{asked['id']}", creator, 200)
    assert (failed["status"], failed["reason"]) == ("failed", "PAYEE_ACCOUNT_ABNORMAL")
    assert await creator_balances(runtime, creator.id) == (0, 8_000)  # the money is back


async def test_refused_payout_and_rejection_return_the_money(
    api: TestClient, runtime: Runtime, channels: Channels
) -> None:
    clock = _clock(runtime)
    creator, admin = await verified_creator(api), await member(api, "admin")
    await _settled_sale(api, runtime, clock, creator, price=10_000)
    channels.alipay.outcome = "FAIL"
    body = {"amount": 2_000, "channel": "alipay", "account": "payee@example.com"}
    first = await call(api, "POST", "/earnings/withdrawals", creator, 201, json=body)
    assert first["account"] == "pa***@example.com"
    second = await call(api, "POST", "/earnings/withdrawals", creator, 201, json=body)
    assert await creator_balances(runtime, creator.id) == (0, 4_000)

    await call(api, "POST", f"/admin/withdrawals/{first['id']}/approve", admin, 200)
    assert await pay_out({"runtime": runtime}, withdrawal_id=first["id"]) == "failed"
    rejected = await call(
        api,
        "POST",
        f"/admin/withdrawals/{second['id']}/reject",
        admin,
        200,
        json={"reason": "账户信息不完整"},
    )
    assert (rejected["status"], rejected["reason"]) == ("rejected", "账户信息不完整")
    assert await creator_balances(runtime, creator.id) == (0, 8_000)
    assert await balance(runtime, owner_type="platform", owner_id=0, purpose="payouts") == 0
    mine = await call(api, "GET", "/earnings/withdrawals", creator, 200)
    assert [item["status"] for item in mine["items"]] == ["rejected", "failed"]


async def test_withdrawal_rules(api: TestClient, runtime: Runtime, channels: Channels) -> None:
    clock = _clock(runtime)
    unverified = await member(api, "creator")
    body = {"amount": 2_000, "channel": "alipay", "account": "13800138000"}
    refused = await call(api, "POST", "/earnings/withdrawals", unverified, 403, json=body)
    assert refused["error"]["code"] == "earnings.real_name_required"
    creator = await verified_creator(api)
    small = await call(
        api, "POST", "/earnings/withdrawals", creator, 422, json={**body, "amount": 999}
    )
    assert small["error"]["code"] == "earnings.below_minimum"
    broke = await call(api, "POST", "/earnings/withdrawals", creator, 409, json=body)
    assert broke["error"]["code"] == "earnings.insufficient_balance"
    await _settled_sale(api, runtime, clock, creator, price=1_500)  # 1,200 available
    over = await call(api, "POST", "/earnings/withdrawals", creator, 409, json=body)
    assert over["error"]["code"] == "earnings.insufficient_balance"
    await call(api, "POST", "/earnings/withdrawals", creator, 422, json={**body, "amount": -1})
    await call(api, "POST", "/earnings/withdrawals", creator, 422, json={**body, "channel": "bank"})
    assert await creator_balances(runtime, creator.id) == (0, 1_200)  # nothing moved


async def test_a_refund_after_withdrawal_leaves_a_negative_balance_that_sales_repay(
    api: TestClient, runtime: Runtime, channels: Channels
) -> None:
    clock = _clock(runtime)
    creator, admin = await verified_creator(api), await member(api, "admin")
    order_id = await _settled_sale(api, runtime, clock, creator, price=10_000)
    body = {"amount": 8_000, "channel": "alipay", "account": "13800138000"}
    asked = await call(api, "POST", "/earnings/withdrawals", creator, 201, json=body)
    await call(api, "POST", f"/admin/withdrawals/{asked['id']}/approve", admin, 200)
    assert await pay_out({"runtime": runtime}, withdrawal_id=asked["id"]) == "paid"

    await refund(runtime, order_id=order_id, amount=10_000, at=clock.now())
    assert await creator_balances(runtime, creator.id) == (0, -8_000)
    summary = await call(api, "GET", "/earnings/summary", creator, 200)
    assert summary["available"] == -8_000
    await _settled_sale(api, runtime, clock, creator, price=20_000)
    assert await creator_balances(runtime, creator.id) == (0, 8_000)


async def test_foreign_withdrawals_are_invisible_and_only_admins_review(
    api: TestClient, runtime: Runtime, channels: Channels
) -> None:
    clock = _clock(runtime)
    owner, other = await verified_creator(api), await verified_creator(api)
    reader = await member(api)
    await _settled_sale(api, runtime, clock, owner, price=10_000)
    body = {"amount": 2_000, "channel": "alipay", "account": "13800138000"}
    asked = await call(api, "POST", "/earnings/withdrawals", owner, 201, json=body)
    missing = await call(api, "GET", f"/earnings/withdrawals/{asked['id']}", other, 404)
    assert missing["error"]["code"] == "earnings.withdrawal_not_found"
    assert (await call(api, "GET", "/earnings/withdrawals", other, 200))["items"] == []
    assert (await call(api, "GET", "/earnings/sales", other, 200))["items"] == []
    assert (await call(api, "GET", "/earnings/summary", other, 200))["available"] == 0
    for who in (owner, other, reader):
        await call(api, "GET", "/admin/withdrawals", who, 403)
        await call(api, "POST", f"/admin/withdrawals/{asked['id']}/approve", who, 403)
        await call(
            api, "POST", f"/admin/withdrawals/{asked['id']}/reject", who, 403, json={"reason": "x"}
        )
    await call(api, "GET", "/earnings/summary", None, 401)
    still = await call(api, "GET", f"/earnings/withdrawals/{asked['id']}", owner, 200)
    assert still["status"] == "requested"


async def test_an_outage_or_a_transfer_in_progress_is_settled_by_the_sweep(
    api: TestClient, runtime: Runtime, channels: Channels
) -> None:
    clock = _clock(runtime)
    creator, admin = await verified_creator(api), await member(api, "admin")
    await _settled_sale(api, runtime, clock, creator, price=10_000)
    body = {"amount": 2_000, "channel": "alipay", "account": "13800138000"}
    down = await call(api, "POST", "/earnings/withdrawals", creator, 201, json=body)
    dealing = await call(api, "POST", "/earnings/withdrawals", creator, 201, json=body)
    for asked in (down, dealing):
        await call(api, "POST", f"/admin/withdrawals/{asked['id']}/approve", admin, 200)

    channels.alipay.fake.fail_next = 1  # a 503: nothing is known, the payout stays paying
    assert await pay_out({"runtime": runtime}, withdrawal_id=down["id"]) == "paying"
    channels.alipay.outcome = "PENDING"
    assert await pay_out({"runtime": runtime}, withdrawal_id=dealing["id"]) == "paying"
    # The job running again sends the same transfer number: the gateway answers the first one.
    assert await pay_out({"runtime": runtime}, withdrawal_id=dealing["id"]) == "paying"
    assert len(channels.alipay.transfers) == 1

    clock.move(minutes=10)
    # The sweep asks about both: the first never reached Alipay (unknown there: still paying);
    # the second finished meanwhile.
    channels.alipay.finish(transfer_number(dealing["id"]), "SUCCESS")
    assert await check_payouts({"runtime": runtime}) == 1
    assert await pay_out({"runtime": runtime}, withdrawal_id=down["id"]) == "paying"
    channels.alipay.finish(transfer_number(down["id"]), "SUCCESS")
    clock.move(minutes=10)
    assert await check_payouts({"runtime": runtime}) == 1
    mine = await call(api, "GET", "/earnings/withdrawals", creator, 200)
    assert [item["status"] for item in mine["items"]] == ["paid", "paid"]
    assert await balance(runtime, owner_type="platform", owner_id=0, purpose="payouts") == 0
