"""A consume is a few statements, the wallet's row locked by the last of the ledger's; the
statements sent straight to the driver still fail as SQLAlchemy's errors (503, nothing spent)."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import event, select

from models.commerce.ledger import LedgerAccount
from server.keys import RUNTIME
from server.settings import Settings
from tests.helpers.env import AppClient
from tests.helpers.people import call, person
from tests.helpers.wallet import give, ledger_totals


async def test_a_consume_claims_reads_then_updates_the_wallet_once_and_writes_its_entries(
    api: TestClient,
) -> None:
    buyer = await person(api)
    await give(api, buyer.id, 10)
    # The first spend of all makes the platform's credits_spent account.
    await call(api, "POST", "/wallet/consume", buyer, 200, json={"amount": 1, "reference": "a"})
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(" ".join(statement.split()))

    engine = api.app[RUNTIME].db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        spent = await call(
            api, "POST", "/wallet/consume", buyer, 200, json={"amount": 2, "reference": "b"}
        )
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert spent["balance"] == 7 and not spent["replayed"]
    ledger = [s for s in statements if "ledger_" in s]
    assert [s.split(" ", 2)[:2] for s in ledger] == [
        ["SELECT", "payer.id,"],  # both accounts and their balances, no lock
        ["INSERT", "IGNORE"],  # the reference claimed (a repeat finds it taken and replays)
        ["UPDATE", "ledger_accounts"],  # the wallet, guarded, with a shard of credits_spent
        ["INSERT", "INTO"],  # both entries, the wallet's balance returned
    ]
    assert "FOR UPDATE" not in " ".join(ledger) and "LOCK IN SHARE" not in " ".join(ledger)
    assert "ledger_entries" in ledger[3] and "RETURNING" in ledger[3]
    # Short already: refused without the update, so without waiting for the wallet's lock.
    statements.clear()
    event.listen(engine, "before_cursor_execute", seen)
    try:
        await call(api, "POST", "/wallet/consume", buyer, 409, json={"amount": 8, "reference": "c"})
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert not [s for s in statements if s.startswith("UPDATE ledger_accounts")]
    assert (await call(api, "GET", "/wallet", buyer, 200))["balance"] == 7


async def test_a_consume_that_waits_too_long_for_the_wallets_lock_answers_503_and_spends_nothing(
    make_client: AppClient, wallet_settings: Settings
) -> None:
    # A lock wait ends after a second (a statement's deadline is two).
    settings = wallet_settings.model_copy(update={"database_statement_timeout_seconds": 2.0})
    api: TestClient = await make_client(settings)
    buyer = await person(api)
    await give(api, buyer.id, 10)
    body = {"amount": 3, "reference": "lesson:1"}
    async with api.app[RUNTIME].db.engine.connect() as blocker:
        transaction = await blocker.begin()
        await blocker.execute(
            select(LedgerAccount.id)
            .where(LedgerAccount.owner_type == "user", LedgerAccount.owner_id == buyer.id)
            .with_for_update()
        )
        refused = await call(api, "POST", "/wallet/consume", buyer, 503, json=body)
        assert refused["error"]["code"] == "service.unavailable"
        await transaction.rollback()
    balance, own, _ = await ledger_totals(api, buyer.id)
    assert balance == own == 10
    # Nothing of it stayed: the same reference spends now, once.
    spent = await call(api, "POST", "/wallet/consume", buyer, 200, json=body)
    assert spent["balance"] == 7 and not spent["replayed"]
