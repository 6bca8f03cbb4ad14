"""A network partition between a real web process and MariaDB: requests answer 503 with
Retry-After within the configured deadlines instead of hanging until TCP gives up, nothing is
half-written, and once the network is back the same requests succeed.

The partition is FaultProxy.blackhole(): connections stay open and new ones are accepted, but no
byte (nor a close) gets through, so the process learns of it only from its own deadlines. Its
session cache is short, so the user's requests all meet at one shared session read, which must
give up within the deadline too.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from models.commerce.ledger import LedgerTransaction
from server.commerce.wallet import service as wallet
from server.runtime import Runtime
from tests.invariants import assert_money_invariants
from tests.system.conftest import MakeProxy, StartWeb
from tests.system.harness import WebProcess, eventually

pytestmark = pytest.mark.system

STATEMENT_TIMEOUT = 2.0
POOL_TIMEOUT = 1.0
DEADLINES = {
    "database_connect_timeout_seconds": 2,
    "database_statement_timeout_seconds": STATEMENT_TIMEOUT,
    "database_pool_timeout_seconds": POOL_TIMEOUT,
    # Every request of the user reads its session state (no cached copy to hide behind).
    "session_cache_seconds": 0.1,
    # Sign-up is not what this test is about.
    "password_hash_time_cost": 1,
    "password_hash_memory_kib": 64,
    "password_hash_parallelism": 1,
}
# A request may wait for a pooled connection, then for the database's answer; plus slack for a
# loaded machine. Without deadlines it waits for as long as the partition lasts.
WITHIN = POOL_TIMEOUT + STATEMENT_TIMEOUT + 3


async def sign_up(http: aiohttp.ClientSession, web: WebProcess) -> tuple[int, str]:
    email = f"partition-{secrets.token_hex(4)}@example.com"
    async with http.post(
        f"{web.url}/api/v1/auth/register",
        json={"email": email, "password": "correct horse battery"},
    ) as response:
        body = await response.json()
        assert response.status == 201, body
        return int(body["user"]["id"]), str(body["access_token"])


async def request(
    http: aiohttp.ClientSession, method: str, url: str, token: str, **kwargs: Any
) -> tuple[int, Any, dict[str, str], float]:
    """(status, JSON body, headers, seconds taken)."""
    started = time.monotonic()
    headers = {"Authorization": f"Bearer {token}"}
    async with http.request(method, url, headers=headers, **kwargs) as response:
        body = await response.json()
        return response.status, body, dict(response.headers), time.monotonic() - started


async def spends_recorded(runtime: Runtime, user_id: int, references: list[str]) -> int:
    async with runtime.db.read() as session:
        found = await session.scalar(
            select(func.count())
            .select_from(LedgerTransaction)
            .where(LedgerTransaction.reference.in_([f"{user_id}:{r}" for r in references]))
        )
        return int(found or 0)


async def test_a_partition_from_the_database_answers_503s_within_the_deadline_and_heals(
    database_url: str,
    fault_proxy: MakeProxy,
    start_web: StartWeb,
    runtime: Runtime,
    engine: AsyncEngine,
) -> None:
    proxy = await fault_proxy(database_url)
    web = await start_web(database_url=proxy.url(database_url), **DEADLINES)
    api = f"{web.url}/api/v1"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        user_id, token = await sign_up(http, web)
        async with runtime.db.unit_of_work() as uow:
            await wallet.credit(
                uow, user_id=user_id, amount=50, kind="credits.grant", reference="partition"
            )
        status, body, _, _ = await request(
            http, "POST", f"{api}/wallet/consume", token, json={"amount": 1, "reference": "before"}
        )
        assert (status, body["balance"]) == (200, 49), body

        await asyncio.sleep(0.3)  # the session state the process cached has expired
        proxy.blackhole()
        spends = ["during:1", "during:2", "during:3"]
        for wave in range(2):  # on pooled connections, then on new ones (handshakes unanswered)
            answers = await asyncio.gather(
                *(
                    request(
                        http,
                        "POST",
                        f"{api}/wallet/consume",
                        token,
                        json={"amount": 1, "reference": reference},
                    )
                    for reference in spends
                ),
                request(http, "GET", f"{api}/wallet", token),
                request(http, "GET", f"{api}/wallet/transactions", token),
            )
            for status, body, headers, took in answers:
                assert status == 503, (wave, body)
                assert body["error"]["code"] == "service.unavailable"
                assert int(headers["Retry-After"]) >= 1
                assert took < WITHIN, f"wave {wave}: 503 after {took:.1f} s"
        assert web.running

        proxy.restore()

        async def serves() -> bool:
            status, _, _, _ = await request(http, "GET", f"{api}/wallet", token)
            return status == 200

        await eventually(serves, within=15, what="the wallet served after the partition")
        # Nothing of the spends answered 503 happened; their retries happen once.
        assert await spends_recorded(runtime, user_id, spends) == 0
        status, body, _, _ = await request(http, "GET", f"{api}/wallet", token)
        assert body["balance"] == 49
        for n, reference in enumerate(spends, start=1):
            status, body, _, _ = await request(
                http,
                "POST",
                f"{api}/wallet/consume",
                token,
                json={"amount": 1, "reference": reference},
            )
            assert (status, body["balance"], body["replayed"]) == (200, 49 - n, False), body
        assert await spends_recorded(runtime, user_id, spends) == len(spends)
    assert web.running
    await assert_money_invariants(engine)
