"""The ledger on MariaDB (its races on SQLite too): postings balance, happen once, refuse
overdrafts, keep balance_after."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from models.commerce.ledger import LedgerAccount, LedgerEntry, LedgerTransaction
from server.commerce.ledger import service as ledger
from server.db import Database, create_engine
from tests.helpers.env import migrated_embedded_settings, on_both_engines


@pytest.fixture
async def db(engine: AsyncEngine, engine_kind: str, tmp_path: Path) -> AsyncIterator[Database]:
    """The test database, or an embedded-mode (SQLite) one for tests run on both engines."""
    if engine_kind == "mariadb":
        yield Database(engine)
        return
    settings = await migrated_embedded_settings(tmp_path)
    embedded = Database(create_engine(settings.sqlalchemy_url))
    yield embedded
    await embedded.dispose()


async def accounts(db: Database) -> tuple[int, int]:
    async with db.unit_of_work() as uow:
        user = await ledger.account_id(
            uow.session, owner_type="user", owner_id=7, purpose="credits", currency="CRD"
        )
        issued = await ledger.platform_account(
            uow.session, purpose="credits_issued", currency="CRD", allow_negative=True
        )
    return user, issued


@on_both_engines
async def test_account_id_is_stable_and_created_once_under_concurrency(db: Database) -> None:
    async def one() -> int:
        async with db.unit_of_work() as uow:
            return await ledger.account_id(
                uow.session, owner_type="creator", owner_id=3, purpose="cash", currency="CNY"
            )

    ids = await asyncio.gather(*(one() for _ in range(8)))
    assert len(set(ids)) == 1
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(LedgerAccount)) == 1


async def test_callers_holding_the_whole_pool_still_make_new_accounts(engine: AsyncEngine) -> None:
    """A new account's short transaction takes its connection from the runtime's side engine,
    not from the pool the callers hold: two units of work on a pool of two connections (one plus
    one overflow) both make an account, where borrowing a third pooled connection would wait out
    the pool timeout and fail."""
    url = engine.url.render_as_string(hide_password=False)
    pooled = create_engine(url, pool_size=1, pool_timeout=0.5)
    side = create_engine(url, pooled=False)
    db = Database(pooled, side_engine=side)
    both_hold = asyncio.Barrier(2)

    async def first_purchase(owner_id: int) -> int:
        async with db.unit_of_work() as uow:
            await uow.session.execute(select(1))  # this caller's pooled connection
            await both_hold.wait()  # the whole pool is out now
            return await ledger.account_id(
                uow.session, owner_type="user", owner_id=owner_id, purpose="cash", currency="CNY"
            )

    try:
        made = await asyncio.gather(first_purchase(31), first_purchase(32))
        assert pooled.sync_engine.pool.checkedout() == 0
    finally:
        await db.dispose()
    async with Database(engine).read() as session:
        kept = await session.scalars(
            select(LedgerAccount.id).where(LedgerAccount.owner_id.in_([31, 32]))
        )
        assert sorted(kept) == sorted(made)


async def test_a_new_account_outlives_the_callers_rollback(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.unit_of_work() as uow:
            made = await ledger.account_id(
                uow.session, owner_type="creator", owner_id=6, purpose="cash", currency="CNY"
            )
            raise RuntimeError("the caller gives up")
    async with db.read() as session:
        kept = await session.scalar(select(LedgerAccount.id).where(LedgerAccount.owner_id == 6))
    assert kept == made


async def test_post_moves_balances_once_with_balance_after(db: Database) -> None:
    user, issued = await accounts(db)
    async with db.unit_of_work() as uow:
        posted = await ledger.post(
            uow.session, kind="t.credit", reference="r1", legs=[(issued, -30), (user, 30)]
        )
        again = await ledger.post(
            uow.session, kind="t.credit", reference="r1", legs=[(issued, -30), (user, 30)]
        )
    assert posted is not None and again is None
    assert posted.balance_after == {user: 30, issued: -30}
    async with db.read() as session:
        assert await ledger.balance(session, account=user) == 30
        rows = (await session.execute(select(LedgerEntry).order_by(LedgerEntry.account_id))).all()
        assert sorted(r[0].balance_after for r in rows) == [-30, 30]
        assert await session.scalar(select(func.count()).select_from(LedgerTransaction)) == 1


async def test_unbalanced_or_bad_legs_are_refused(db: Database) -> None:
    user, issued = await accounts(db)
    async with db.unit_of_work() as uow:
        with pytest.raises(ValueError):
            await ledger.post(uow.session, kind="t", reference="x", legs=[(user, 5)])
        with pytest.raises(ValueError):
            fractional: Any = [(user, 1.5), (issued, -1.5)]
            await ledger.post(uow.session, kind="t", reference="x", legs=fractional)
        with pytest.raises(ValueError):
            await ledger.post(uow.session, kind="t", reference="x", legs=[(999999, 5), (user, -5)])


async def test_overdraft_raises_and_writes_nothing(db: Database) -> None:
    user, issued = await accounts(db)
    with pytest.raises(ledger.InsufficientFunds) as caught:
        async with db.unit_of_work() as uow:
            await ledger.post(
                uow.session, kind="t.debit", reference="d", legs=[(user, -1), (issued, 1)]
            )
    assert caught.value.account_id == user and caught.value.code == "wallet.insufficient_funds"
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(LedgerTransaction)) == 0
        assert await ledger.balance(session, account=issued) == 0


async def test_a_repeated_posting_after_the_money_is_gone_is_still_a_no_op(db: Database) -> None:
    user, issued = await accounts(db)
    async with db.unit_of_work() as uow:
        await ledger.post(uow.session, kind="t.c", reference="c", legs=[(issued, -5), (user, 5)])
        assert await ledger.post(
            uow.session, kind="t.d", reference="d", legs=[(user, -5), (issued, 5)]
        )
    async with db.unit_of_work() as uow:
        again = await ledger.post(
            uow.session, kind="t.d", reference="d", legs=[(user, -5), (issued, 5)]
        )
    assert again is None


@on_both_engines
async def test_concurrent_crosswise_postings_do_not_deadlock(db: Database) -> None:
    a, b = await accounts(db)
    async with db.unit_of_work() as uow:
        await ledger.post(uow.session, kind="seed", reference="s", legs=[(b, -1000), (a, 1000)])

    async def move(i: int) -> None:
        legs = [(a, -1), (b, 1)] if i % 2 else [(b, -1), (a, 1)]
        async with db.unit_of_work() as uow:
            await ledger.post(uow.session, kind="x", reference=str(i), legs=legs)

    await asyncio.gather(*(move(i) for i in range(40)))
    async with db.read() as session:
        total = await session.scalar(select(func.sum(LedgerEntry.amount)))
        assert total == 0
        assert await ledger.balance(session, account=a) == 1000
