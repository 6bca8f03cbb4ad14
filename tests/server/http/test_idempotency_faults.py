"""Idempotency-Key under database faults: a key whose request did not complete becomes
retryable, and a retry gets the committed outcome when there is one, never a second effect.

Faults are injected where the driver runs a statement: the statements named fail as a lost
connection would, the rest of the request's work goes through."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError

from models.platform import IdempotencyKey
from server.clock import Clock
from server.commerce.wallet import service as wallet
from server.http import idempotency
from server.http.idempotency import InProgress, Lease
from server.keys import RUNTIME
from tests.helpers.env import RUN_PREFIX, make_settings, on_both_engines
from tests.helpers.people import Person, person
from tests.helpers.wallet import give, ledger_totals
from tests.system.harness import eventually

CONSUME = "/api/v1/wallet/consume"
EFFECT = "/api/v1/probe/effect"
LEASE = 60.0
STORE = "UPDATE idempotency_keys SET status_code"
RELEASE = "DELETE FROM idempotency_keys"
CHARGE = "INSERT INTO ledger_entries"


class Later(Clock):
    """The application's clock moved forward (a retry arriving later)."""

    def __init__(self, by: timedelta) -> None:
        self.by = by

    def now(self) -> datetime:
        return super().now() + self.by


@pytest.fixture
async def api(make_client: Any, database_url: str) -> TestClient:
    settings = make_settings(
        database_url=database_url,
        rate_limit_ip="100000/minute",
        rate_limit_account="100000/minute",
        idempotency_lease_seconds=LEASE,
    )
    return await make_client(settings)


@contextmanager
def database_fails(api: TestClient, *prefixes: str) -> Iterator[None]:
    """Statements starting with one of `prefixes` fail as if the connection was lost."""
    engine = api.app[RUNTIME].db.engine.sync_engine

    def fail(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().startswith(prefixes):
            raise OperationalError(statement, None, ConnectionError("lost connection"))

    event.listen(engine, "before_cursor_execute", fail)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", fail)


async def consume(api: TestClient, who: Person, key: str, amount: int = 3) -> tuple[int, Any]:
    response = await api.post(
        CONSUME,
        json={"amount": amount, "reference": f"lesson:{key}"},
        headers={**who.headers, "Idempotency-Key": key},
    )
    return response.status, await response.json()


async def key_row(api: TestClient, key: str) -> IdempotencyKey | None:
    async with api.app[RUNTIME].db.read() as session:
        return await session.scalar(select(IdempotencyKey).where(IdempotencyKey.key == key))


async def spent(api: TestClient, who: Person) -> int:
    balance, _, everything = await ledger_totals(api, who.id)
    assert everything == 0
    return 10 - balance


async def buyer_with_ten(api: TestClient) -> Person:
    who = await person(api)
    await give(api, who.id, 10)
    return who


@on_both_engines
async def test_a_consume_whose_answer_could_not_be_stored_replays_it_once_the_database_returns(
    api: TestClient,
) -> None:
    buyer = await buyer_with_ten(api)
    with database_fails(api, STORE):
        status, first = await consume(api, buyer, "k-store")
        # Charged and answered: the client learns the outcome even though it was not stored.
        assert status == 200 and first["balance"] == 7 and not first["replayed"]
        status, busy = await consume(api, buyer, "k-store")
        assert (status, busy["error"]["code"]) == (409, "idempotency.in_progress")

    async def replayed() -> bool:
        response = await api.post(
            CONSUME,
            json={"amount": 3, "reference": "lesson:k-store"},
            headers={**buyer.headers, "Idempotency-Key": "k-store"},
        )
        return response.status == 200 and response.headers.get("Idempotent-Replayed") == "true"

    await eventually(replayed, 10, what="the stored answer")
    assert await consume(api, buyer, "k-store") == (200, first)
    assert await spent(api, buyer) == 3


@on_both_engines
async def test_a_consume_whose_holder_died_after_charging_replays_by_reference_after_the_lease(
    api: TestClient,
) -> None:
    buyer = await buyer_with_ten(api)
    with database_fails(api, STORE):
        status, first = await consume(api, buyer, "k-died")
        assert status == 200
        for pending in list(idempotency._PENDING):  # the process is gone, and its retries
            pending.cancel()
    await asyncio.sleep(0)
    row = await key_row(api, "k-died")
    assert row is not None and row.took_effect and row.status_code is None

    status, busy = await consume(api, buyer, "k-died")
    assert (status, busy["error"]["code"]) == (409, "idempotency.in_progress")
    api.app[RUNTIME].clock = Later(timedelta(seconds=LEASE + 1))
    status, again = await consume(api, buyer, "k-died")
    assert status == 200
    assert again["transaction_id"] == first["transaction_id"] and again["replayed"]
    assert await spent(api, buyer) == 3
    # The retry's answer is the one kept from now on.
    assert await consume(api, buyer, "k-died") == (200, again)


@on_both_engines
async def test_a_claim_whose_holder_died_before_any_effect_runs_again_after_the_lease(
    api: TestClient,
) -> None:
    buyer = await buyer_with_ten(api)
    runtime = api.app[RUNTIME]
    fingerprint = idempotency.request_fingerprint(
        "POST", CONSUME, b'{"amount":3,"reference":"lesson:k-dead"}'
    )
    now = runtime.clock.now()
    async with runtime.db.unit_of_work() as uow:
        uow.session.add(
            IdempotencyKey(
                scope=f"{buyer.id}:POST {CONSUME}",
                key="k-dead",
                request_hash=fingerprint,
                user_id=buyer.id,
                created_at=now,
                expires_at=now + timedelta(days=1),
                lease_token="a" * 32,
                locked_until=now + timedelta(seconds=LEASE),
            )
        )

    async def post() -> tuple[int, Any]:
        response = await api.post(
            CONSUME,
            data=b'{"amount":3,"reference":"lesson:k-dead"}',
            headers={
                **buyer.headers,
                "Idempotency-Key": "k-dead",
                "Content-Type": "application/json",
            },
        )
        return response.status, await response.json()

    status, busy = await post()
    assert (status, busy["error"]["code"]) == (409, "idempotency.in_progress")
    runtime.clock = Later(timedelta(seconds=LEASE + 1))  # a minute on, not a day
    status, ran = await post()
    assert status == 200 and not ran["replayed"] and ran["balance"] == 7
    assert await post() == (200, ran)
    assert await spent(api, buyer) == 3


async def test_a_failed_release_frees_the_key_once_the_database_returns(api: TestClient) -> None:
    buyer = await buyer_with_ten(api)
    with database_fails(api, CHARGE, RELEASE):
        status, failed = await consume(api, buyer, "k-release")
        assert (status, failed["error"]["code"]) == (503, "service.unavailable")
    row = await key_row(api, "k-release")
    if row is not None:  # not yet released in the background: nothing took effect
        assert not row.took_effect

    async def released() -> bool:
        return await key_row(api, "k-release") is None

    await eventually(released, 10, what="the key released")
    status, ran = await consume(api, buyer, "k-release")
    assert status == 200 and not ran["replayed"]
    assert await spent(api, buyer) == 3


@on_both_engines
async def test_a_holder_whose_key_was_taken_over_cannot_commit_its_effect(
    api: TestClient,
) -> None:
    buyer = await buyer_with_ten(api)
    runtime = api.app[RUNTIME]
    now = runtime.clock.now()
    async with runtime.db.unit_of_work() as uow:
        row = IdempotencyKey(
            scope=f"{buyer.id}:POST {CONSUME}",
            key="k-fenced",
            request_hash="0" * 64,
            user_id=buyer.id,
            created_at=now,
            expires_at=now + timedelta(days=1),
            lease_token="new".ljust(32, "0"),  # a retry holds it now
            locked_until=now + timedelta(seconds=LEASE),
        )
        uow.session.add(row)
    holding = idempotency._HOLDING.set(Lease(row.id, "old".ljust(32, "0")))
    try:
        with pytest.raises(InProgress):
            async with runtime.db.unit_of_work() as uow:
                await wallet.consume(
                    uow, user_id=buyer.id, amount=3, reference="lesson:fenced", memo=None, now=now
                )
    finally:
        idempotency._HOLDING.reset(holding)
    assert await spent(api, buyer) == 0
    kept = await key_row(api, "k-fenced")
    assert kept is not None and not kept.took_effect


async def test_a_request_that_failed_after_its_effect_committed_is_not_run_again(
    probe_client: TestClient, redis: Any
) -> None:
    headers = {"X-Test-User": "1", "Idempotency-Key": "k-lost"}
    failed = await probe_client.post(EFFECT, json={"text": "lost"}, headers=headers)
    assert failed.status == 503
    # At once, not after the lease: the effect committed, so running it again would repeat it.
    again = await probe_client.post(EFFECT, json={"text": "lost"}, headers=headers)
    assert again.status == 409
    assert (await again.json())["error"]["code"] == "idempotency.outcome_unknown"
    assert int(await redis.get(f"{RUN_PREFIX}:probe:effects:1")) == 1


async def test_a_request_refused_after_its_effect_committed_still_frees_its_key(
    probe_client: TestClient, redis: Any
) -> None:
    headers = {"X-Test-User": "1", "Idempotency-Key": "k-refused"}
    for _ in range(2):
        refused = await probe_client.post(EFFECT, json={"text": "refused"}, headers=headers)
        assert refused.status == 409
        assert (await refused.json())["error"]["code"] == "probe.conflict"
    assert int(await redis.get(f"{RUN_PREFIX}:probe:effects:1")) == 2
