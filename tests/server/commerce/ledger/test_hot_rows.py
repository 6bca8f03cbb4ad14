"""No platform-wide hot row: postings of unrelated users do not wait for each other.

A platform account that may go negative (`credits_issued`, `credits_spent`, `gateway:<provider>`)
is posted to through shard rows, never locked as a whole; users' and creators' balances stay
guarded, and the ledger audit still balances.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from models.commerce.ledger import LedgerAccount, LedgerAccountShard, LedgerEntry
from server.commerce.ledger import service as ledger
from server.commerce.ledger.audit import audit
from server.commerce.wallet import service as wallet
from server.db import Database, create_engine
from tests.invariants import assert_money_invariants

# Far below MariaDB's default lock wait (50 s): a posting that queues behind another user's
# open transaction fails the test instead of hanging it.
WAIT_S = 3.0


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """A database of its own engine (its connections' session settings die with it)."""
    side = create_engine(database_url, pooled=False)
    db = Database(create_engine(database_url), side_engine=side)
    try:
        yield db
    finally:
        await db.dispose()


async def _give(db: Database, user_id: int, amount: int) -> None:
    async with db.unit_of_work() as uow:
        await wallet.credit(
            uow, user_id=user_id, amount=amount, kind="credits.grant", reference=f"g:{user_id}"
        )


async def test_consumes_of_two_users_do_not_wait_for_each_other(
    db: Database, engine: AsyncEngine
) -> None:
    await _give(db, 501, 10)
    await _give(db, 502, 10)
    held = asyncio.Event()
    release = asyncio.Event()

    async def hold_one_open() -> None:
        async with db.unit_of_work() as uow:
            await wallet.consume(uow, user_id=501, amount=3, reference="a")
            held.set()
            await release.wait()  # its transaction stays open, its locks held

    async def the_other() -> int:
        async with db.unit_of_work() as uow:
            await uow.session.execute(text("SET SESSION innodb_lock_wait_timeout = 2"))
            change = await wallet.consume(uow, user_id=502, amount=4, reference="b")
        return change.balance

    holder = asyncio.create_task(hold_one_open())
    try:
        await asyncio.wait_for(held.wait(), WAIT_S)
        assert await asyncio.wait_for(the_other(), WAIT_S) == 6
    finally:
        release.set()
        await holder
    async with db.read() as session:
        assert await wallet.balance(session, user_id=501) == 7
        assert await wallet.balance(session, user_id=502) == 6
        spent = await ledger.balance_of(
            session, owner_type="platform", owner_id=0, purpose="credits_spent", currency="CRD"
        )
        assert spent == 7
    await assert_money_invariants(engine)


async def test_top_ups_of_two_users_do_not_wait_for_each_other(
    db: Database, engine: AsyncEngine
) -> None:
    await _give(db, 511, 1)  # the platform accounts exist before the race
    held = asyncio.Event()
    release = asyncio.Event()

    async def hold_one_open() -> None:
        async with db.unit_of_work() as uow:
            await wallet.credit(uow, user_id=512, amount=5, kind="credits.grant", reference="x")
            held.set()
            await release.wait()

    async def the_other() -> int:
        async with db.unit_of_work() as uow:
            await uow.session.execute(text("SET SESSION innodb_lock_wait_timeout = 2"))
            change = await wallet.credit(
                uow, user_id=513, amount=8, kind="credits.grant", reference="y"
            )
        return change.balance

    holder = asyncio.create_task(hold_one_open())
    try:
        await asyncio.wait_for(held.wait(), WAIT_S)
        assert await asyncio.wait_for(the_other(), WAIT_S) == 8
    finally:
        release.set()
        await holder
    async with db.read() as session:
        issued = await ledger.balance_of(
            session, owner_type="platform", owner_id=0, purpose="credits_issued", currency="CRD"
        )
    assert issued == -14
    await assert_money_invariants(engine)


async def test_many_users_spread_over_the_shards_and_the_audit_balances(
    db: Database, engine: AsyncEngine
) -> None:
    users = list(range(601, 621))
    await asyncio.gather(*(_give(db, user, 5) for user in users))

    at_once = asyncio.Semaphore(10)  # within the pool

    async def spend(user: int, i: int) -> int:
        async with at_once, db.unit_of_work() as uow:
            try:
                await wallet.consume(uow, user_id=user, amount=2, reference=f"s{i}")
            except wallet.InsufficientFunds:
                return 0
        return 2

    spent = await asyncio.gather(*(spend(user, i) for user in users for i in range(3)))
    assert sum(spent) == len(users) * 4  # two of three consumes of 2 fit in 5 credits each
    async with db.read() as session:
        for user in users[:5]:
            assert await wallet.balance(session, user_id=user) == 1
        platform = await session.execute(
            select(LedgerAccount.purpose, LedgerAccount.balance).where(
                LedgerAccount.owner_type == "platform"
            )
        )
        # The platform rows themselves were never changed: their balances are in their shards.
        assert {row.purpose: row.balance for row in platform} == {
            "credits_issued": 0,
            "credits_spent": 0,
        }
        used = await session.scalar(
            select(func.count(func.distinct(LedgerAccountShard.shard))).where(
                LedgerAccountShard.balance != 0
            )
        )
        assert used is not None and used > 1
        spent_total = await ledger.balance_of(
            session, owner_type="platform", owner_id=0, purpose="credits_spent", currency="CRD"
        )
        assert spent_total == len(users) * 4
        # The wallets' entries keep an exact running balance.
        lowest = await session.scalar(
            select(func.min(LedgerEntry.balance_after))
            .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
            .where(LedgerAccount.owner_type == "user")
        )
        assert lowest == 1
        result = await audit(session)
    assert result.ok and result.accounts == len(users) + 2
    await assert_money_invariants(engine)


async def test_the_audit_sees_a_drifted_shard(db: Database, engine: AsyncEngine) -> None:
    await _give(db, 701, 4)
    async with db.unit_of_work() as uow:
        issued = await ledger.platform_account(
            uow.session, purpose="credits_issued", currency="CRD", allow_negative=True
        )
        await uow.session.execute(
            LedgerAccountShard.__table__.update()
            .where(LedgerAccountShard.account_id == issued, LedgerAccountShard.shard == 0)
            .values(balance=LedgerAccountShard.balance + 1)
        )
    async with db.read() as session:
        result = await audit(session)
    assert list(result.drifted) == [issued] and result.drifted[issued] == (-3, -4)


async def test_a_short_debit_leaves_the_other_guarded_legs_as_they_were(
    db: Database, engine: AsyncEngine
) -> None:
    async with db.unit_of_work() as uow:
        payer = await ledger.account_id(
            uow.session, owner_type="creator", owner_id=801, purpose="x", currency="CNY"
        )
        payee = await ledger.account_id(
            uow.session, owner_type="creator", owner_id=802, purpose="x", currency="CNY"
        )
        issued = await ledger.platform_account(
            uow.session, purpose="issued", currency="CNY", allow_negative=True
        )
        await ledger.post(
            uow.session, kind="t.fund", reference="f", legs=[(issued, -3), (payee, 3)]
        )
        with pytest.raises(ledger.InsufficientFunds) as caught:
            await ledger.post(
                uow.session, kind="t.move", reference="m", legs=[(payer, -5), (payee, 5)]
            )
        assert caught.value.account_id == payer
    async with db.read() as session:
        assert await ledger.balance(session, account=payer) == 0
        assert await ledger.balance(session, account=payee) == 3
        assert await ledger.find_transaction(session, kind="t.move", reference="m") is None
        assert (await audit(session)).ok
