"""The wallet over HTTP: balance, consume (no double spend), history, admin adjustments."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from models.audit import AdminLog
from models.commerce.ledger import LedgerEntry
from server.keys import RUNTIME
from server.outbox import Event
from tests.helpers.env import on_both_engines
from tests.helpers.people import call, person
from tests.helpers.wallet import give, ledger_totals


@on_both_engines
async def test_two_hundred_concurrent_consumes_of_fifty_credits_spend_exactly_fifty(
    api: TestClient,
) -> None:
    buyer = await person(api)
    await give(api, buyer.id, 50)

    async def spend(i: int) -> int:
        # A client retries 503 (the pool was busy; nothing happened) with the same reference.
        for _ in range(5):
            response = await api.post(
                "/api/v1/wallet/consume",
                json={"amount": 1, "reference": f"lesson:{i}"},
                headers=buyer.headers,
            )
            body = await response.json()
            if response.status != 503:
                break
        if response.status == 409:
            assert body["error"]["code"] == "wallet.insufficient_funds"
        return response.status

    statuses = await asyncio.gather(*(spend(i) for i in range(200)))
    assert statuses.count(200) == 50
    assert statuses.count(409) == 150
    balance, own, everything = await ledger_totals(api, buyer.id)
    assert balance == 0 and own == 0 and everything == 0
    async with api.app[RUNTIME].db.read() as session:
        lowest = await session.scalar(select(func.min(LedgerEntry.balance_after)))
        debits = await session.scalar(
            select(func.sum(LedgerEntry.amount)).where(LedgerEntry.amount < 0)
        )
        credits = await session.scalar(
            select(func.sum(LedgerEntry.amount)).where(LedgerEntry.amount > 0)
        )
    assert lowest is not None and lowest >= -50  # only the platform's issue account goes negative
    assert debits == -credits
    wallet = await call(api, "GET", "/wallet", buyer, 200)
    assert wallet["balance"] == 0 and wallet["currency"] == "CRD"


async def test_a_retried_consume_moves_nothing_twice(api: TestClient) -> None:
    buyer = await person(api)
    await give(api, buyer.id, 10)
    body = {"amount": 3, "reference": "lesson:9", "reason": "第九课"}
    first = await call(api, "POST", "/wallet/consume", buyer, 200, json=body)
    again = await call(api, "POST", "/wallet/consume", buyer, 200, json=body)
    assert first["balance"] == 7 and not first["replayed"]
    assert again == {**first, "replayed": True}
    other = await call(api, "POST", "/wallet/consume", buyer, 409, json={**body, "amount": 4})
    assert other["error"]["code"] == "wallet.reference_reused"
    keyed = {**buyer.headers, "Idempotency-Key": "k-1"}
    body2 = {"amount": 2, "reference": "lesson:10"}
    one = await api.post("/api/v1/wallet/consume", json=body2, headers=keyed)
    two = await api.post("/api/v1/wallet/consume", json=body2, headers=keyed)
    assert one.status == two.status == 200
    assert (await one.json()) == (await two.json())
    assert (await call(api, "GET", "/wallet", buyer, 200))["balance"] == 5


async def test_consume_validates_and_refuses_overdraft(api: TestClient) -> None:
    buyer = await person(api)
    for bad in ({"amount": 0, "reference": "x"}, {"amount": 1}, {"amount": 1, "reference": "a b"}):
        await call(api, "POST", "/wallet/consume", buyer, 422, json=bad)
    short = await call(
        api, "POST", "/wallet/consume", buyer, 409, json={"amount": 1, "reference": "x"}
    )
    assert short["error"]["code"] == "wallet.insufficient_funds"
    assert (await call(api, "GET", "/wallet/transactions", buyer, 200))["items"] == []


async def test_history_pages_and_filters(api: TestClient) -> None:
    buyer = await person(api)
    await give(api, buyer.id, 10)
    for i in range(4):
        await call(
            api, "POST", "/wallet/consume", buyer, 200, json={"amount": 1, "reference": f"r{i}"}
        )
    page = await call(api, "GET", "/wallet/transactions?limit=3", buyer, 200)
    assert [item["balance_after"] for item in page["items"]] == [6, 7, 8]
    assert page["items"][0]["reference"] == "r3" and page["items"][0]["amount"] == -1
    rest = await call(
        api, "GET", f"/wallet/transactions?limit=3&cursor={page['next_cursor']}", buyer, 200
    )
    assert [item["balance_after"] for item in rest["items"]] == [9, 10] and rest[
        "next_cursor"
    ] is None
    grants = await call(api, "GET", "/wallet/transactions?kind=credits.grant", buyer, 200)
    assert [item["amount"] for item in grants["items"]] == [10]
    newest = page["items"][0]["created_at"]
    none = await call(
        api, "GET", "/wallet/transactions", buyer, 200, params={"since": "2100-01-01T00:00:00Z"}
    )
    assert none["items"] == []
    until = await call(
        api, "GET", "/wallet/transactions", buyer, 200, params={"until": "2000-01-01T00:00:00Z"}
    )
    assert until["items"] == [] and newest
    await call(
        api, "GET", "/wallet/transactions", buyer, 422, params={"since": "2000-01-01T00:00:00"}
    )
    await call(api, "GET", "/wallet/transactions", buyer, 400, params={"cursor": "bm9wZQ"})
    # A year on, whatever today is: only what the moved clock wrote is that recent.
    later = (datetime.now(UTC) + timedelta(days=366)).replace(microsecond=0)
    api.app[RUNTIME].clock.now = lambda: later  # type: ignore[method-assign]
    await call(api, "POST", "/wallet/consume", buyer, 200, json={"amount": 1, "reference": "t"})
    since = {"since": (later - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")}
    moved = await call(api, "GET", "/wallet/transactions", buyer, 200, params=since)
    assert [item["reference"] for item in moved["items"]] == ["t"]
    assert moved["items"][0]["created_at"].startswith(later.date().isoformat())


async def test_history_times_are_iso_8601_with_an_offset_never_numbers(api: TestClient) -> None:
    buyer = await person(api)
    for value in ("0", "0.5", "1700000000", "2030-01-01", "2030-01-01T00:00:00"):
        for name in ("since", "until"):
            data = await call(api, "GET", "/wallet/transactions", buyer, 422, params={name: value})
            assert set(data["error"]["fields"]) == {f"query.{name}"}, (name, value)
    shanghai = {"until": "2030-01-01T08:00:00+08:00"}
    page = await call(api, "GET", "/wallet/transactions", buyer, 200, params=shanghai)
    assert page["items"] == []


async def test_people_see_only_their_own_wallet_and_only_admins_adjust(api: TestClient) -> None:
    alice, bob, admin = await person(api), await person(api), await person(api, "admin")
    await give(api, alice.id, 5)
    assert (await call(api, "GET", "/wallet", bob, 200))["balance"] == 0
    assert (await call(api, "GET", "/wallet/transactions", bob, 200))["items"] == []
    for path in (f"/admin/wallets/{alice.id}", f"/admin/wallets/{alice.id}/transactions"):
        await call(api, "GET", path, bob, 403)
    await call(api, "GET", "/wallet", None, 401)
    body = {"amount": 5, "reason": "补偿"}
    await call(api, "POST", f"/admin/wallets/{alice.id}/adjustments", bob, 403, json=body)
    seen = await call(api, "GET", f"/admin/wallets/{alice.id}", admin, 200)
    assert seen["balance"] == 5


async def test_admin_adjustments_are_audited_and_never_go_below_zero(api: TestClient) -> None:
    alice, admin = await person(api), await person(api, "admin")
    path = f"/admin/wallets/{alice.id}/adjustments"
    up = await call(api, "POST", path, admin, 201, json={"amount": 8, "reason": "活动赠送"})
    assert up["balance"] == 8
    down = await call(api, "POST", path, admin, 201, json={"amount": -3, "reason": "误发"})
    assert down["balance"] == 5 and down["amount"] == -3
    over = await call(api, "POST", path, admin, 409, json={"amount": -6, "reason": "误发"})
    assert over["error"]["code"] == "wallet.insufficient_funds"
    await call(api, "POST", path, admin, 422, json={"amount": 0, "reason": "x"})
    await call(
        api,
        "POST",
        "/admin/wallets/999999999/adjustments",
        admin,
        404,
        json={"amount": 1, "reason": "x"},
    )
    named = {"amount": 2, "reason": "补偿", "reference": "ticket-7"}
    await call(api, "POST", path, admin, 201, json=named)
    again = await call(api, "POST", path, admin, 201, json=named)
    assert again["replayed"] and again["balance"] == 7
    ledger = await call(api, "GET", f"{path.removesuffix('/adjustments')}/transactions", admin, 200)
    assert [item["amount"] for item in ledger["items"]] == [2, -3, 8]
    assert ledger["items"][1]["memo"] == "误发"
    async with api.app[RUNTIME].db.read() as session:
        logs = (
            await session.scalars(select(AdminLog).where(AdminLog.action == "wallet.adjust"))
        ).all()
    assert len(logs) == 3 and {log.target_id for log in logs} == {alice.id}


class Recorder:
    def __init__(self) -> None:
        self.sent: list[Event] = []

    async def send(self, event: Event) -> None:
        self.sent.append(event)


@on_both_engines
async def test_every_change_tells_the_user_and_a_concurrent_retry_spends_once(
    api: TestClient,
) -> None:
    runtime = api.app[RUNTIME]
    recorder = Recorder()
    assert runtime.jobs is not None
    runtime.attach(jobs=runtime.jobs, events=recorder)
    buyer = await person(api)
    await give(api, buyer.id, 10)
    body = {"amount": 4, "reference": "course:1", "reason": "课程"}
    answers = await asyncio.gather(
        *(call(api, "POST", "/wallet/consume", buyer, 200, json=body) for _ in range(8))
    )
    assert {a["transaction_id"] for a in answers} == {answers[0]["transaction_id"]}
    assert sorted(a["replayed"] for a in answers) == [False] + [True] * 7
    assert (await call(api, "GET", "/wallet", buyer, 200))["balance"] == 6
    await asyncio.sleep(0.05)
    updates = [e for e in recorder.sent if e.type == "wallet.updated"]
    assert [e.user_ids for e in updates] == [(buyer.id,), (buyer.id,)]
    assert [e.data["balance"] for e in updates] == [10, 6]
    spent = updates[1].data["transaction"]
    assert (spent["kind"], spent["amount"], spent["balance_after"]) == ("wallet.consume", -4, 6)
