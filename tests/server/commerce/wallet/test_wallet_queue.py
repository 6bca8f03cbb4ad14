"""Spends of one wallet queue in the process, for a bounded time: under a slow database the
ones that cannot get a place in time answer 503 with Retry-After and spend nothing."""

from __future__ import annotations

import asyncio

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from models.commerce.ledger import LedgerAccount, LedgerEntry, LedgerTransaction
from server.commerce.wallet import routes as wallet_routes
from server.commerce.wallet.routes import PER_WALLET
from server.keys import RUNTIME
from server.settings import Settings
from tests.helpers.env import AppClient
from tests.helpers.people import call, person
from tests.helpers.wallet import give
from tests.invariants import assert_money_invariants
from tests.system.harness import eventually


async def test_a_spend_that_waits_too_long_behind_its_wallet_is_refused_and_spends_nothing(
    make_client: AppClient, wallet_settings: Settings, engine: AsyncEngine
) -> None:
    settings = wallet_settings.model_copy(update={"wallet_queue_timeout_seconds": 0.5})
    api: TestClient = await make_client(settings)
    buyer = await person(api)
    await give(api, buyer.id, 100)

    def spend(reference: str) -> asyncio.Task[ClientResponse]:
        return asyncio.ensure_future(
            api.post(
                "/api/v1/wallet/consume",
                json={"amount": 1, "reference": reference},
                headers=buyer.headers,
            )
        )

    # A slow database: the wallet's row stays locked by another transaction, so every spend
    # in flight waits for it, and the wallet's queue in this process fills up.
    async with api.app[RUNTIME].db.engine.connect() as blocker:
        transaction = await blocker.begin()
        await blocker.execute(
            select(LedgerAccount.id)
            .where(LedgerAccount.owner_type == "user", LedgerAccount.owner_id == buyer.id)
            .with_for_update()
        )
        in_flight = [spend(f"lesson:{n}") for n in range(PER_WALLET)]

        async def queue_full() -> bool:
            gate = wallet_routes._QUEUES.get(buyer.id)
            return gate is not None and gate.locked()

        await eventually(queue_full, within=10, what="every place of the wallet taken")
        async with asyncio.timeout(10):  # unbounded, it would wait for the lock's holder
            refused = await spend("lesson:late")
        assert refused.status == 503
        assert (await refused.json())["error"]["code"] == "service.unavailable"
        assert int(refused.headers["Retry-After"]) >= 1
        assert not any(task.done() for task in in_flight)
        await transaction.rollback()

    # Released together, the spends that waited run (one may lose a deadlock to another:
    # 503, nothing spent, as for any client).
    statuses = [(await task).status for task in in_flight]
    assert set(statuses) <= {200, 503} and 200 in statuses, statuses
    spent = statuses.count(200)
    async with api.app[RUNTIME].db.read() as session:
        late = await session.scalar(
            select(func.count())
            .select_from(LedgerTransaction)
            .where(LedgerTransaction.reference == f"{buyer.id}:lesson:late")
        )
        entries = await session.scalar(select(func.count()).select_from(LedgerEntry))
    assert late == 0
    assert entries == 2 * (1 + spent)  # the grant and the spends that ran, two legs each
    wallet = await call(api, "GET", "/wallet", buyer, 200)
    assert wallet["balance"] == 100 - spent

    # The client's retry is served once the queue has room.
    again = await call(
        api, "POST", "/wallet/consume", buyer, 200, json={"amount": 1, "reference": "lesson:late"}
    )
    assert again["replayed"] is False and again["balance"] == 99 - spent
    await assert_money_invariants(engine)
