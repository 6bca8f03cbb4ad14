"""Idempotency-Key on the money routes: when the effect committed and its answer was lost, a
retry gets the committed outcome (the same entity, the route's success status,
`Idempotent-Replayed`), never a second effect. A route that cannot rebuild its answer still
says `idempotency.outcome_unknown`.

Answers are lost as in test_idempotency_faults.py: storing the answer fails where the driver runs
the statement and the holder's background retries die with its process, or the request fails
after its effect committed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from jobs import payments as payment_jobs
from jobs.earnings import settle_due
from models.commerce.earnings import Withdrawal
from models.commerce.ledger import LedgerTransaction
from models.commerce.orders import Order
from models.commerce.payments import Payment, Refund
from models.platform import IdempotencyKey
from server.commerce.wallet.service import ADJUST
from server.http import idempotency
from server.keys import RUNTIME
from server.runtime import Runtime
from tests.helpers.earnings import creator_balances, creator_plan, sell, verified_creator
from tests.helpers.env import AppClient, make_settings
from tests.helpers.orders import product
from tests.helpers.payments import (
    SANDBOX_SECRET,
    Fakes,
    deliver,
    open_payment,
    paid_callback,
    pending_order,
)
from tests.helpers.people import Person, person
from tests.helpers.subscriptions import MovableClock, member
from tests.helpers.wallet import ledger_totals
from tests.invariants import assert_money_invariants
from tests.server.commerce.payments import conftest as payments
from tests.server.http.test_idempotency_faults import LEASE, STORE, Later, database_fails

Send = Callable[[], Awaitable[ClientResponse]]
fakes = payments.fakes  # the payments tests' fake gateways, a fixture here too


@pytest.fixture
async def api(make_client: AppClient, database_url: str, fakes: Fakes) -> TestClient:
    settings = make_settings(
        database_url=database_url,
        rate_limit_ip="100000/minute",
        rate_limit_account="100000/minute",
        idempotency_lease_seconds=LEASE,
        payment_sandbox_secret=SANDBOX_SECRET,
        withdrawal_min_amount=1000,
        **fakes.settings(),
    )
    client = await make_client(settings)
    fakes.follow(client.app[RUNTIME])  # the gateways' times are the app's, however it moves
    return client


@pytest.fixture
def runtime(api: TestClient) -> Runtime:
    found: Runtime = api.app[RUNTIME]
    return found


def sender(api: TestClient, path: str, who: Person, key: str, **body: Any) -> Send:
    def send() -> Awaitable[ClientResponse]:
        return api.post(path, json=body, headers={**who.headers, "Idempotency-Key": key})

    return send


async def answer_lost(api: TestClient, send: Send, *failing: str) -> tuple[int, Any]:
    """The request commits its effect, but its answer is never stored: storing it fails (and
    the statements `failing`), and the process that would retry the store is gone."""
    with database_fails(api, STORE, *failing):
        response = await send()
        first = (response.status, await response.json())
        for pending in list(idempotency._PENDING):
            pending.cancel()
    await asyncio.sleep(0)
    return first


async def retried_after_the_lease(runtime: Runtime, send: Send, status: int) -> Any:
    runtime.clock = Later(timedelta(seconds=LEASE + 1))
    return await retried(send, status)


async def retried(send: Send, status: int) -> Any:
    response = await send()
    assert response.status == status, await response.text()
    assert response.headers.get("Idempotent-Replayed") == "true"
    answer = await response.json()
    again = await send()  # the rebuilt answer is the one kept from now on
    assert (again.status, await again.json()) == (status, answer)
    return answer


async def count(runtime: Runtime, query: Any) -> int:
    async with runtime.db.read() as session:
        return int(await session.scalar(query) or 0)


async def test_an_order_whose_answer_was_lost_is_answered_with_that_order(
    api: TestClient, runtime: Runtime
) -> None:
    buyer = await person(api)
    product_id = await product(api)
    send = sender(api, "/api/v1/orders", buyer, "o-lost", items=[{"product_id": product_id}])
    status, first = await answer_lost(api, send)
    assert status == 201

    busy = await send()  # the lease still runs: the holder might be storing it right now
    assert busy.status == 409
    assert (await busy.json())["error"]["code"] == "idempotency.in_progress"
    assert await retried_after_the_lease(runtime, send, 201) == first
    mine = select(func.count()).select_from(Order).where(Order.user_id == buyer.id)
    assert await count(runtime, mine) == 1
    await assert_money_invariants(runtime.db.engine)


async def test_a_payment_whose_answer_was_lost_is_answered_with_that_payment(
    api: TestClient, runtime: Runtime
) -> None:
    buyer = await person(api)
    order = await pending_order(api, buyer)
    path = f"/api/v1/orders/{order['id']}/payments"
    send = sender(api, path, buyer, "p-lost", provider="alipay")
    status, first = await answer_lost(api, send)
    assert status == 201 and first["client"]

    assert await retried_after_the_lease(runtime, send, 201) == first
    of_order = select(func.count()).select_from(Payment).where(Payment.order_id == order["id"])
    assert await count(runtime, of_order) == 1
    await assert_money_invariants(runtime.db.engine)


async def test_a_payment_paid_since_its_answer_was_lost_is_answered_as_paid(
    api: TestClient, runtime: Runtime, fakes: Fakes
) -> None:
    buyer = await person(api)
    order = await pending_order(api, buyer)
    path = f"/api/v1/orders/{order['id']}/payments"
    send = sender(api, path, buyer, "p-paid", provider="alipay")
    status, first = await answer_lost(api, send)
    assert status == 201
    headers, body = paid_callback(fakes, runtime, "alipay", first)
    assert (await deliver(api, "alipay", headers, body)).status == 200

    # Run again, the order would no longer be payable (409): the payment itself answers.
    again = await retried_after_the_lease(runtime, send, 201)
    assert (again["id"], again["status"]) == (first["id"], "succeeded")
    await assert_money_invariants(runtime.db.engine)


async def test_a_payment_that_failed_before_reaching_the_gateway_finishes_its_checkout(
    api: TestClient, runtime: Runtime
) -> None:
    buyer = await person(api)
    order = await pending_order(api, buyer)
    path = f"/api/v1/orders/{order['id']}/payments"
    send = sender(api, path, buyer, "p-half", provider="alipay")
    # Opened (committed), then the database fails before the gateway's answer is kept.
    status, failed = await answer_lost(api, send, "UPDATE payments")
    assert (status, failed["error"]["code"]) == (503, "service.unavailable")

    # At once: the failed request ended its lease, and the payment it opened is the answer.
    paid = await retried(send, 201)
    assert paid["order_id"] == order["id"] and paid["client"]
    of_order = select(Payment.id).where(Payment.order_id == order["id"])
    async with runtime.db.read() as session:
        assert list(await session.scalars(of_order)) == [paid["id"]]
    await assert_money_invariants(runtime.db.engine)


async def test_a_refund_whose_answer_was_lost_is_answered_with_that_refund_as_it_is_now(
    api: TestClient, runtime: Runtime, fakes: Fakes
) -> None:
    buyer = await person(api)
    order = await pending_order(api, buyer)
    payment = await open_payment(api, buyer, order["id"], "alipay")
    headers, body = paid_callback(fakes, runtime, "alipay", payment)
    assert (await deliver(api, "alipay", headers, body)).status == 200
    path = f"/api/v1/orders/{order['id']}/refunds"
    send = sender(api, path, buyer, "r-lost", reason="不想要了")
    status, first = await answer_lost(api, send)
    assert (status, first["status"], first["amount"]) == (201, "pending", 600)
    # The gateway refunds it meanwhile: the retry shows the refund as it is now.
    ctx = {"runtime": runtime, "job_try": 1}
    assert await payment_jobs.refund(ctx, refund_id=first["id"]) == "succeeded"

    again = await retried_after_the_lease(runtime, send, 201)
    assert (again["id"], again["status"], again["amount"]) == (first["id"], "succeeded", 600)
    of_order = select(func.count()).select_from(Refund).where(Refund.order_id == order["id"])
    assert await count(runtime, of_order) == 1
    await assert_money_invariants(runtime.db.engine)


async def test_a_withdrawal_whose_answer_was_lost_is_answered_with_that_withdrawal(
    api: TestClient, runtime: Runtime
) -> None:
    clock = MovableClock(datetime.now(UTC) - timedelta(days=20))
    runtime.clock = clock
    creator, buyer = await verified_creator(api), await member(api)
    plan = await creator_plan(runtime, creator.id, price=10_000)
    await sell(runtime, buyer_id=buyer.id, product_id=plan, at=clock.now())
    clock.move(days=9)
    await settle_due({"runtime": runtime})
    body = {"amount": 5_000, "channel": "alipay", "account": "13800138000"}
    send = sender(api, "/api/v1/earnings/withdrawals", creator, "w-lost", **body)
    status, first = await answer_lost(api, send)
    assert (status, first["status"]) == (201, "requested")

    clock.move(seconds=LEASE + 1)
    assert await retried(send, 201) == first
    mine = select(func.count()).select_from(Withdrawal).where(Withdrawal.creator_id == creator.id)
    assert await count(runtime, mine) == 1
    assert await creator_balances(runtime, creator.id) == (0, 3_000)
    await assert_money_invariants(runtime.db.engine)


async def test_a_wallet_adjustment_whose_answer_was_lost_is_answered_with_that_posting(
    api: TestClient, runtime: Runtime
) -> None:
    admin, user = await person(api, "admin"), await person(api)
    path = f"/api/v1/admin/wallets/{user.id}/adjustments"
    send = sender(api, path, admin, "a-lost", amount=25, reason="补偿")  # no reference of its own
    status, first = await answer_lost(api, send)
    assert (status, first["amount"], first["balance"]) == (201, 25, 25)

    again = await retried_after_the_lease(runtime, send, 201)
    assert again == {**first, "replayed": True}
    adjustments = (
        select(func.count())
        .select_from(LedgerTransaction)
        .where(LedgerTransaction.kind == ADJUST, LedgerTransaction.user_id == user.id)
    )
    assert await count(runtime, adjustments) == 1
    assert (await ledger_totals(api, user.id))[0] == 25
    await assert_money_invariants(runtime.db.engine)


async def test_a_route_that_cannot_rebuild_its_answer_still_says_the_outcome_is_unknown(
    probe_client: TestClient,
) -> None:
    runtime = probe_client.app[RUNTIME]
    headers = {"X-Test-User": "1", "Idempotency-Key": "k-unknown"}

    def send() -> Awaitable[ClientResponse]:
        return probe_client.post("/api/v1/probe/effect", json={"text": "kept"}, headers=headers)

    status, _ = await answer_lost(probe_client, send)
    assert status == 201
    runtime.clock = Later(timedelta(seconds=runtime.settings.idempotency_lease_seconds + 1))
    again = await send()
    assert again.status == 409
    assert (await again.json())["error"]["code"] == "idempotency.outcome_unknown"


async def test_an_answer_that_cannot_be_rebuilt_keeps_the_key_rather_than_running_again(
    api: TestClient, runtime: Runtime
) -> None:
    buyer = await person(api)
    product_id = await product(api)
    body = {"items": [{"product_id": product_id}]}
    fingerprint = idempotency.request_fingerprint("POST", "/api/v1/orders", orjson.dumps(body))
    now = runtime.clock.now()
    async with runtime.db.unit_of_work() as uow:
        uow.session.add(  # took effect, named an order this buyer cannot see, then died
            IdempotencyKey(
                scope=f"{buyer.id}:POST /api/v1/orders",
                key="o-gone",
                request_hash=fingerprint,
                user_id=buyer.id,
                created_at=now - timedelta(seconds=LEASE + 1),
                expires_at=now + timedelta(days=1),
                lease_token="a" * 32,
                locked_until=now - timedelta(seconds=1),
                took_effect=True,
                result_ref=f"order:{2**62}",
            )
        )
    for _ in range(2):
        response = await api.post(
            "/api/v1/orders",
            data=orjson.dumps(body),
            headers={
                **buyer.headers,
                "Idempotency-Key": "o-gone",
                "Content-Type": "application/json",
            },
        )
        assert response.status == 409
        assert (await response.json())["error"]["code"] == "idempotency.outcome_unknown"
    mine = select(func.count()).select_from(Order).where(Order.user_id == buyer.id)
    assert await count(runtime, mine) == 0
