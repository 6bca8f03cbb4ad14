"""Idempotency-Key across a database outage, with a real web process whose connections to
MariaDB go through a FaultProxy: the database goes away while consumes are in flight and comes
back; every key's retry then gets the outcome that committed (or runs once if nothing did), no
key stays `in_progress`, and no credit is spent twice."""

from __future__ import annotations

import asyncio
import itertools
import secrets
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from models.platform import IdempotencyKey
from server.commerce.wallet import service as wallet
from server.runtime import Runtime
from tests.invariants import assert_money_invariants
from tests.system.conftest import MakeProxy, StartWeb
from tests.system.harness import WebProcess, eventually

pytestmark = pytest.mark.system

PASSWORD = "correct horse battery"
LEASE = 3.0
BUYERS, KEYS_EACH, PRICE, GIVEN = 3, 4, 5, 100
_emails = itertools.count(1)


async def buyer(http: aiohttp.ClientSession, web: WebProcess, runtime: Runtime) -> tuple[int, str]:
    email = f"idem{next(_emails)}-{secrets.token_hex(3)}@example.com"
    async with http.post(
        f"{web.url}/api/v1/auth/register", json={"email": email, "password": PASSWORD}
    ) as response:
        body = await response.json()
        assert response.status == 201, body
    user_id = int(body["user"]["id"])
    async with runtime.db.unit_of_work() as uow:
        await wallet.credit(
            uow, user_id=user_id, amount=GIVEN, kind="credits.grant", reference=f"idem:{user_id}"
        )
    return user_id, str(body["access_token"])


async def consume(
    http: aiohttp.ClientSession, web: WebProcess, token: str, key: str
) -> tuple[int, dict[str, Any]]:
    try:
        async with http.post(
            f"{web.url}/api/v1/wallet/consume",
            json={"amount": PRICE, "reference": f"lesson:{key}"},
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
        ) as response:
            return response.status, await response.json()
    except (aiohttp.ClientError, TimeoutError):
        return 0, {}  # no answer at all: the client cannot tell either


async def settled(
    http: aiohttp.ClientSession, web: WebProcess, token: str, key: str
) -> tuple[int, dict[str, Any]]:
    """Retry `key` as a client would: again while it is in progress or the server is busy."""
    answer: tuple[int, dict[str, Any]] = (0, {})

    async def answered() -> bool:
        nonlocal answer
        answer = await consume(http, web, token, key)
        status, body = answer
        busy = status == 409 and body["error"]["code"] == "idempotency.in_progress"
        return not busy and status not in (0, 500, 502, 503, 504)

    await eventually(answered, 30, what=f"a final answer for {key}")
    return answer


async def charged_unanswered(engine: AsyncEngine) -> bool:
    """Some consume's charge committed and its answer is not stored yet."""
    async with engine.connect() as conn:
        count = await conn.scalar(
            select(func.count())
            .select_from(IdempotencyKey)
            .where(IdempotencyKey.took_effect.is_(True), IdempotencyKey.status_code.is_(None))
        )
    return bool(count)


async def test_after_a_database_outage_mid_consume_every_key_gets_its_committed_outcome(
    database_url: str,
    engine: AsyncEngine,
    fault_proxy: MakeProxy,
    start_web: StartWeb,
    runtime: Runtime,
) -> None:
    proxy = await fault_proxy(database_url)
    web = await start_web(database_url=proxy.url(database_url), idempotency_lease_seconds=LEASE)
    timeout = aiohttp.ClientTimeout(total=20)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        buyers = [await buyer(http, web, runtime) for _ in range(BUYERS)]
        keys = [(token, f"k{user_id}-{n}") for user_id, token in buyers for n in range(KEYS_EACH)]

        # Every round trip to the database is slow, so the cut finds consumes at every step;
        # it comes right after one charge committed, before its answer could be stored.
        proxy.slow(0.05)
        during = []
        for token, key in keys:
            during.append(asyncio.create_task(consume(http, web, token, key)))
            await asyncio.sleep(0.1)
        await eventually(lambda: charged_unanswered(engine), 15, what="a charge in flight")
        proxy.cut()
        first = await asyncio.gather(*during)
        assert await charged_unanswered(engine), "the answer was stored before the cut"
        await asyncio.sleep(1.0)
        proxy.restore()
        final = [await settled(http, web, token, key) for token, key in keys]

    for (status, before), (final_status, after) in zip(first, final, strict=True):
        assert final_status == 200, after
        if status == 200:  # the first answer arrived: the retry gets the same charge
            assert after["transaction_id"] == before["transaction_id"]
    # One charge per key, whoever answered it.
    assert len({body["transaction_id"] for _, body in final}) == len(keys)
    async with engine.connect() as conn:
        unsettled = await conn.scalar(
            select(func.count())
            .select_from(IdempotencyKey)
            .where(IdempotencyKey.status_code.is_(None))
        )
        assert unsettled == 0
    for user_id, _ in buyers:
        async with runtime.db.read() as session:
            held = await wallet.balance(session, user_id=user_id)
        assert held == GIVEN - PRICE * KEYS_EACH
    await assert_money_invariants(engine)
    assert web.running
