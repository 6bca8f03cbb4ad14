"""Posting to the double-entry ledger.

`post` writes one transaction whose legs sum to zero, exactly once per (kind, reference). The
transaction row is inserted first: a concurrent posting of the same reference waits on its unique
key and then finds it taken. Balances then change in account-id order (so two postings never
wait on each other crosswise) by guarded updates that refuse to take an account below zero unless
it allows negative balances; each entry records the balance after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, case, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from models.base import utcnow
from models.commerce.ledger import LedgerAccount, LedgerEntry, LedgerTransaction
from server.db import SIDE_ENGINE, Reader
from server.http.errors import Conflict

PLATFORM = "platform"
PLATFORM_OWNER = 0


class InsufficientFunds(Conflict):
    code, message = "wallet.insufficient_funds", "The balance is too low for this."

    def __init__(self, account_id: int | None = None) -> None:
        super().__init__()
        self.account_id = account_id


@dataclass(slots=True)
class Posted:
    transaction_id: int
    # account id -> its balance after this transaction
    balance_after: dict[int, int] = field(default_factory=dict)


async def account_id(
    session: AsyncSession,
    *,
    owner_type: str,
    owner_id: int,
    purpose: str,
    currency: str,
    allow_negative: bool = False,
) -> int:
    """The id of an account, created on first use; safe when two requests create it at once."""
    where = and_(
        LedgerAccount.owner_type == owner_type,
        LedgerAccount.owner_id == owner_id,
        LedgerAccount.purpose == purpose,
        LedgerAccount.currency == currency,
    )
    found = await session.scalar(select(LedgerAccount.id).where(where))
    if found is not None:
        return int(found)
    values = {
        "owner_type": owner_type,
        "owner_id": owner_id,
        "purpose": purpose,
        "currency": currency,
        "balance": 0,
        "allow_negative": allow_negative,
        "created_at": utcnow(),
    }
    bind = session.get_bind()
    if bind.dialect.name == "mysql":
        # Created in a short transaction of its own, on the runtime's side engine (a connection
        # per use, outside the pool the caller's request holds, so a burst of first purchases
        # that holds every pooled connection does not wait on the pool): the caller keeps no
        # lock from it (concurrent first uses in one transaction deadlock on the unique key),
        # its snapshot does not matter, and an empty account is harmless if the caller rolls
        # back.
        async with _side_engine_of(session).begin() as conn:
            await conn.execute(insert(LedgerAccount).prefix_with("IGNORE").values(**values))
            created = await conn.scalar(select(LedgerAccount.id).where(where))
    else:
        await session.execute(insert(LedgerAccount).prefix_with("OR IGNORE").values(**values))
        created = await session.scalar(select(LedgerAccount.id).where(where))
    if created is None:  # pragma: no cover - the insert above or a rival made it
        raise RuntimeError("ledger account could not be created")
    return int(created)


def _side_engine_of(session: AsyncSession) -> AsyncEngine:
    """The runtime's engine for side transactions (`server.db.Database`), else the session's."""
    side = session.info.get(SIDE_ENGINE)
    if isinstance(side, AsyncEngine):
        return side
    bind = session.bind
    if isinstance(bind, AsyncConnection):
        return bind.engine
    if isinstance(bind, AsyncEngine):
        return bind
    return AsyncEngine(session.get_bind().engine)


async def platform_account(
    session: AsyncSession, *, purpose: str, currency: str, allow_negative: bool = False
) -> int:
    return await account_id(
        session,
        owner_type=PLATFORM,
        owner_id=PLATFORM_OWNER,
        purpose=purpose,
        currency=currency,
        allow_negative=allow_negative,
    )


def _merge(legs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    totals: dict[int, int] = {}
    for account, amount in legs:
        if not isinstance(amount, int) or isinstance(amount, bool):
            raise ValueError("ledger amounts are integers in minor units")
        totals[account] = totals.get(account, 0) + amount
    if sum(totals.values()) != 0:
        raise ValueError("the legs of a ledger transaction must sum to zero")
    return sorted((account, amount) for account, amount in totals.items() if amount != 0)


async def post(
    session: AsyncSession,
    *,
    kind: str,
    reference: str,
    legs: list[tuple[int, int]],
    user_id: int | None = None,
    actor_id: int | None = None,
    memo: str | None = None,
    now: datetime | None = None,
) -> Posted | None:
    """Post a transaction once; None when (kind, reference) was posted before.

    Raises InsufficientFunds, leaving nothing written, when a leg would take an account below
    zero that does not allow it. The reference is claimed before the accounts are locked, so
    the locks are held only for the balance update, the entries and the caller's commit.
    """
    merged = _merge(legs)
    now = now or utcnow()
    claimed = await session.execute(
        insert(LedgerTransaction)
        .prefix_with("IGNORE", dialect="mysql")
        .prefix_with("OR IGNORE", dialect="sqlite")
        .values(
            kind=kind,
            reference=reference,
            user_id=user_id,
            actor_id=actor_id,
            memo=memo[:255] if memo else None,
            created_at=now,
        )
    )
    if claimed.rowcount == 0:  # type: ignore[attr-defined]
        return None
    transaction_id = int(claimed.inserted_primary_key[0])  # type: ignore[attr-defined]
    try:
        after = _balances_after(merged, await lock_accounts(session, [a for a, _ in merged]))
    except (InsufficientFunds, ValueError):
        # Unclaim, so a caller that handles the error and commits keeps no trace of it.
        await session.execute(
            delete(LedgerTransaction).where(LedgerTransaction.id == transaction_id)
        )
        raise
    if merged:
        await _apply(session, merged)
        await session.execute(
            insert(LedgerEntry),
            [
                {
                    "transaction_id": transaction_id,
                    "account_id": account,
                    "amount": amount,
                    "balance_after": after[account],
                    "created_at": now,
                }
                for account, amount in merged
            ],
        )
    return Posted(transaction_id=transaction_id, balance_after=after)


def _balances_after(
    merged: list[tuple[int, int]], locked: dict[int, tuple[int, bool]]
) -> dict[int, int]:
    after: dict[int, int] = {}
    for account, amount in merged:
        current, allow_negative = locked[account]
        after[account] = current + amount
        if after[account] < 0 and not allow_negative:
            raise InsufficientFunds(account)
    return after


async def lock_accounts(session: AsyncSession, ids: list[int]) -> dict[int, tuple[int, bool]]:
    """Lock the accounts in id order; their balances and whether each may go negative."""
    if not ids:
        return {}
    ids = sorted(set(ids))
    rows = await session.execute(
        select(LedgerAccount.id, LedgerAccount.balance, LedgerAccount.allow_negative)
        .where(LedgerAccount.id.in_(ids))
        .order_by(LedgerAccount.id)
        .with_for_update()
    )
    locked = {int(row.id): (int(row.balance), bool(row.allow_negative)) for row in rows}
    missing = set(ids) - set(locked)
    if missing:
        raise ValueError(f"no ledger account {sorted(missing)}")
    return locked


async def _apply(session: AsyncSession, merged: list[tuple[int, int]]) -> None:
    """Every leg's balance change in one guarded UPDATE (the lock already checked them; the
    guard is the backstop)."""
    change = case({account: amount for account, amount in merged}, value=LedgerAccount.id, else_=0)
    changed = await session.execute(
        update(LedgerAccount)
        .where(
            LedgerAccount.id.in_([account for account, _ in merged]),
            or_(LedgerAccount.allow_negative.is_(True), LedgerAccount.balance + change >= 0),
        )
        .values(balance=LedgerAccount.balance + change)
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != len(merged):  # type: ignore[attr-defined]  # pragma: no cover
        raise RuntimeError("a locked ledger balance changed under its lock")


async def balance(reader: Reader, *, account: int, fresh: bool = False) -> int:
    """An account's balance; `fresh` reads the latest committed one (a shared locking read)
    rather than this transaction's snapshot."""
    query = select(LedgerAccount.balance).where(LedgerAccount.id == account)
    value = await reader.scalar(query.with_for_update(read=True) if fresh else query)
    return int(value or 0)


async def balance_of(
    reader: Reader, *, owner_type: str, owner_id: int, purpose: str, currency: str
) -> int:
    """An account's balance (0 when it was never used); creates nothing."""
    value = await reader.scalar(
        select(LedgerAccount.balance).where(
            LedgerAccount.owner_type == owner_type,
            LedgerAccount.owner_id == owner_id,
            LedgerAccount.purpose == purpose,
            LedgerAccount.currency == currency,
        )
    )
    return int(value or 0)


async def find_transaction(
    reader: Reader, *, kind: str, reference: str, fresh: bool = False
) -> LedgerTransaction | None:
    """The transaction posted for (kind, reference); `fresh` as in `balance` (a rival's posting
    that committed after this transaction's snapshot began)."""
    query = select(LedgerTransaction).where(
        LedgerTransaction.kind == kind, LedgerTransaction.reference == reference
    )
    result = await reader.execute(query.with_for_update(read=True) if fresh else query)
    return result.scalars().first()


async def entry_amount(
    reader: Reader, *, transaction_id: int, account: int, fresh: bool = False
) -> int:
    """What one transaction moved on one account (0 when it did not touch it)."""
    query = select(LedgerEntry.amount).where(
        LedgerEntry.transaction_id == transaction_id, LedgerEntry.account_id == account
    )
    value = await reader.scalar(query.with_for_update(read=True) if fresh else query)
    return int(value or 0)
