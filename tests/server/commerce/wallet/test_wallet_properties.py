"""Property: any sequence of recharges, consumes, revocations and adjustments keeps the wallet's
balance equal to its ledger sum, each entry's balance_after consistent, and never below zero."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from models.commerce.ledger import LedgerEntry
from server.commerce.ledger.service import InsufficientFunds
from server.commerce.wallet import service as wallet
from server.db import Database

_users = itertools.count(10_000)
_refs = itertools.count(1)

amounts = st.integers(min_value=1, max_value=40)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("recharge"), amounts),
        st.tuples(st.just("consume"), amounts),
        st.tuples(st.just("revoke"), amounts),
        st.tuples(st.just("adjust"), st.integers(-40, 40).filter(bool)),
    ),
    min_size=1,
    max_size=12,
)


@pytest.fixture
def db(engine: AsyncEngine) -> Database:
    return Database(engine)


async def _apply(db: Database, user_id: int, op: str, amount: int) -> int:
    """Run one operation; the change it made to the balance."""
    ref = f"p{next(_refs)}"
    try:
        async with db.unit_of_work() as uow:
            if op == "recharge":
                change = await wallet.credit(
                    uow, user_id=user_id, amount=amount, kind="credits.purchase", reference=ref
                )
                return change.amount
            if op == "consume":
                return (
                    await wallet.consume(uow, user_id=user_id, amount=amount, reference=ref)
                ).amount
            if op == "revoke":
                return -await wallet.revoke_credits(
                    uow, user_id=user_id, amount=amount, reference=ref
                )
            change = await wallet.adjust(
                uow, user_id=user_id, amount=amount, reason="p", reference=ref, admin_id=1
            )
            return change.amount
    except InsufficientFunds:
        return 0


async def _check(db: Database, user_id: int, expected: int) -> None:
    async with db.read() as session:
        held = await wallet.balance(session, user_id=user_id)
        account = await wallet.user_account(session, user_id=user_id)
        entries = (
            await session.execute(
                select(LedgerEntry.amount, LedgerEntry.balance_after)
                .where(LedgerEntry.account_id == account)
                .order_by(LedgerEntry.id)
            )
        ).all()
        everything = await session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount), 0)))
    assert held == expected == sum(amount for amount, _ in entries)
    running = 0
    for amount, after in entries:
        running += amount
        assert after == running >= 0
    assert everything == 0


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations)
async def test_balance_always_equals_the_ledger_and_never_goes_negative(
    db: Database, ops: list[tuple[str, int]]
) -> None:
    user_id = next(_users)
    expected = 0
    for op, amount in ops:
        change = await _apply(db, user_id, op, amount)
        if op == "recharge":
            assert change == amount
        elif op == "revoke":
            assert change == -min(amount, expected)
        elif op == "consume" or amount < 0:
            assert change == (-abs(amount) if abs(amount) <= expected else 0)
        expected += change
        await _check(db, user_id, expected)
