"""Posting to the double-entry ledger.

`post` writes one transaction whose legs sum to zero, exactly once per (kind, reference). The
transaction row is inserted first: a concurrent posting of the same reference waits on its unique
key and then finds it taken. Then:

* accounts that keep a guarded balance (users', creators', and platform accounts that must not
  go negative) change in one UPDATE, in account-id order (so two postings never wait on each
  other crosswise), guarded so that it refuses to take an account below zero; no balance is read
  first and no lock is taken before it;
* a platform account that may go negative carries no floor to guard: its leg adds to one of its
  `SHARDS` shard rows (chosen by the transaction id) without reading it, so the postings of
  unrelated users do not queue on one platform row. Its balance is its own row's plus its
  shards';
* each entry records the balance after it: exact for guarded accounts; for a sharded account,
  the balance as this transaction sees it (other postings in flight are not in it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.sql import Executable

from models.base import utcnow
from models.commerce.ledger import (
    LedgerAccount,
    LedgerAccountShard,
    LedgerEntry,
    LedgerTransaction,
)
from server.db import SIDE_ENGINE, Reader
from server.http.errors import Conflict

PLATFORM = "platform"
PLATFORM_OWNER = 0
# Shard rows of a platform account that may go negative (migration 0023 made 16 for those
# that existed; more may be added, never fewer: reads sum whatever rows there are).
SHARDS = 16
# session.info key: account id -> its `_Known`, as this session has seen it.
_ACCOUNTS = "ledger.accounts"
# session.info key: (owner_type, owner_id, purpose, currency) -> account id.
_IDS = "ledger.ids"


@dataclass(frozen=True, slots=True)
class _Known:
    sharded: bool
    allow_negative: bool
    # The row's balance as this transaction read it (a guarded account's after this
    # transaction's postings; a sharded account's never changes on postings, its shards do).
    own: int


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
    key = (owner_type, owner_id, purpose, currency)
    ids: dict[tuple[str, int, str, str], int] = session.info.setdefault(_IDS, {})
    if key in ids:
        # Seen by this transaction already: a sharded account made after its snapshot began is
        # never changed by it, so the query below would not see it again.
        return ids[key]
    fetch = select(LedgerAccount.id, LedgerAccount.allow_negative, LedgerAccount.balance).where(
        where
    )
    found = (await session.execute(fetch)).first()
    if found is not None:
        ids[key] = _remember(session, found, owner_type)
        return ids[key]
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
            inserted = await conn.execute(
                insert(LedgerAccount).prefix_with("IGNORE").values(**values)
            )
            made = bool(inserted.rowcount)
            created = (await conn.execute(fetch)).first()
            # Its shards come with it, from the maker only: a rival's insert of existing shard
            # rows would wait on a posting's lock on one, which may wait on the rival.
            if made and created is not None and _is_sharded(owner_type, allow_negative):
                await _make_shards(conn, [int(created.id)], range(SHARDS))
    else:
        ignored = insert(LedgerAccount).prefix_with("OR IGNORE").values(**values)
        made = bool((await session.execute(ignored)).rowcount)  # type: ignore[attr-defined]
        created = (await session.execute(fetch)).first()
        if made and created is not None and _is_sharded(owner_type, allow_negative):
            await _make_shards(session, [int(created.id)], range(SHARDS))
        if created is not None:
            # Made in the caller's transaction, which may yet roll it back: not remembered.
            return int(created.id)
    if created is None:  # pragma: no cover - the insert above or a rival made it
        raise RuntimeError("ledger account could not be created")
    ids[key] = _remember(session, created, owner_type)
    return ids[key]


def _is_sharded(owner_type: str, allow_negative: bool) -> bool:
    """A platform account with no floor to guard keeps its balance in shards."""
    return owner_type == PLATFORM and allow_negative


def _remember(session: AsyncSession, row: Any, owner_type: str) -> int:
    """Note an account's row (id, allow_negative, balance) for this session's postings."""
    known: dict[int, _Known] = session.info.setdefault(_ACCOUNTS, {})
    allow_negative = bool(row.allow_negative)
    known[int(row.id)] = _Known(
        _is_sharded(owner_type, allow_negative), allow_negative, int(row.balance)
    )
    return int(row.id)


async def _make_shards(
    conn: AsyncConnection | AsyncSession, accounts: list[int], shards: range | list[int]
) -> None:
    """Empty shard rows (those that exist already stay as they are)."""
    await conn.execute(
        insert(LedgerAccountShard)
        .prefix_with("IGNORE", dialect="mysql")
        .prefix_with("OR IGNORE", dialect="sqlite"),
        [{"account_id": a, "shard": shard, "balance": 0} for a in accounts for shard in shards],
    )


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
    zero that does not allow it. The reference is claimed before any balance changes, so the
    guarded rows are locked only from their update to the caller's commit; sharded platform
    accounts lock one shard row of theirs for that time, not the account.
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
    if not merged:
        return Posted(transaction_id=transaction_id)
    try:
        known = await _known(session, [account for account, _ in merged])
        guarded = [(a, amount) for a, amount in merged if not known[a].sharded]
        await _apply_guarded(session, guarded, known)
    except (InsufficientFunds, ValueError):
        # Unclaim, so a caller that handles the error and commits keeps no trace of it.
        await session.execute(
            delete(LedgerTransaction).where(LedgerTransaction.id == transaction_id)
        )
        raise
    sharded = [(a, amount) for a, amount in merged if known[a].sharded]
    if sharded:
        await _add_to_shards(session, sharded, shard=transaction_id % SHARDS)
    after = await _balances(session, known)
    remembered: dict[int, _Known] = session.info[_ACCOUNTS]
    for account, _ in guarded:
        remembered[account] = _Known(False, known[account].allow_negative, after[account])
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


@dataclass(frozen=True, slots=True)
class Spent:
    """A spend's posting: the payer's account and its balance after."""

    transaction_id: int
    account: int
    balance: int


# The spend's statements on MariaDB, as the driver takes them (no compiling per request).
_CLAIM_SQL = (
    "INSERT IGNORE INTO ledger_transactions (kind, reference, user_id, actor_id, memo, created_at)"
    " VALUES (%s, %s, %s, NULL, %s, %s)"
)
# Both accounts by their keys, the payer's balance and the payee's (its row and shards), as this
# transaction's snapshot has them (no lock), and how many of the payee's shards exist.
_SPEND_ACCOUNTS_SQL = (
    "SELECT payer.id, payer.balance, payee.id,"
    " payee.balance + COALESCE((SELECT SUM(s.balance) FROM ledger_account_shards s"
    " WHERE s.account_id = payee.id), 0),"
    " (SELECT COUNT(*) FROM ledger_account_shards s WHERE s.account_id = payee.id"
    " AND s.shard < %s)"
    " FROM ledger_accounts payee LEFT JOIN ledger_accounts payer"
    " ON payer.owner_type = %s AND payer.owner_id = %s AND payer.purpose = %s"
    " AND payer.currency = payee.currency"
    " WHERE payee.owner_type = %s AND payee.owner_id = %s AND payee.purpose = %s"
    " AND payee.currency = %s"
)
# The payer's guarded debit and the payee's shard, in one statement (rows locked payer first,
# as every posting locks guarded rows before shards): both rows change, or neither.
_SPEND_SQL = (
    "UPDATE ledger_accounts a JOIN ledger_account_shards s ON s.account_id = %s AND s.shard = %s"
    " SET a.balance = a.balance - %s, s.balance = s.balance + %s"
    " WHERE a.id = %s AND a.balance >= %s"
)
# Both entries, the payer's balance_after read from its row (locked by this transaction).
_SPEND_ENTRIES_SQL = (
    "INSERT INTO ledger_entries (transaction_id, account_id, amount, balance_after, created_at)"
    " SELECT %s, id, %s, balance, %s FROM ledger_accounts WHERE id = %s"
    " UNION ALL SELECT %s, %s, %s, %s, %s"
    " RETURNING account_id, balance_after"
)
_UNCLAIM_SQL = "DELETE FROM ledger_transactions WHERE id = %s"


async def spend(
    session: AsyncSession,
    *,
    kind: str,
    reference: str,
    owner_type: str,
    owner_id: int,
    purpose: str,
    currency: str,
    to_purpose: str,
    amount: int,
    user_id: int | None = None,
    memo: str | None = None,
    now: datetime | None = None,
    undo_on_refusal: bool = True,
) -> Spent | None:
    """Post `amount` from an owner's guarded account to a sharded platform account (credits
    spent) once per (kind, reference); None when it was posted before. The same posting as
    `post`, in the fewest round trips on MariaDB: read both accounts by their keys (no lock),
    claim the reference, then one guarded UPDATE of the payer and the payee's shard, and the
    entries; the payer's row is locked from that UPDATE to the caller's commit. A payer short
    already in the read is refused without the UPDATE (so without waiting for its lock).

    Raises InsufficientFunds when the payer is short. `undo_on_refusal=False` is for a caller
    that rolls its transaction back then: the claim is not deleted first (a round trip while
    the payer's row is locked), so the caller must not commit after the error.
    """
    if amount <= 0:
        raise ValueError("a spend is a positive amount")
    now = now or utcnow()
    memo = memo[:255] if memo else None
    conn = await session.connection()
    if conn.dialect.name != "mysql" or conn.dialect.paramstyle != "format":
        return await _spend_posting(
            session,
            kind=kind,
            reference=reference,
            owner=(owner_type, owner_id, purpose, currency),
            to_purpose=to_purpose,
            amount=amount,
            user_id=user_id,
            memo=memo,
            now=now,
        )
    at = now.astimezone(UTC).replace(tzinfo=None)
    driver = await _Driver.of(conn)
    _, _, rows = await driver.run(
        _SPEND_ACCOUNTS_SQL,
        (SHARDS, owner_type, owner_id, purpose, PLATFORM, PLATFORM_OWNER, to_purpose, currency),
    )
    found = rows[0] if rows else None
    claimed, transaction_id, _ = await driver.run(_CLAIM_SQL, (kind, reference, user_id, memo, at))
    if claimed == 0:
        return None
    shard = transaction_id % SHARDS
    held: int | None = None
    if found is not None and found[0] is not None and int(found[4]) == SHARDS:
        payer, held, payee, payee_before = (int(value) for value in found[:4])
    else:
        # First use of an account, or a payee short of shards: made now.
        payer = await account_id(
            session, owner_type=owner_type, owner_id=owner_id, purpose=purpose, currency=currency
        )
        payee = await platform_account(
            session, purpose=to_purpose, currency=currency, allow_negative=True
        )
        if found is not None and int(found[4]) != SHARDS:
            # In a short transaction of its own: an insert that finds the row there already
            # would share-lock it, and two such spends then deadlock on their updates of it.
            # (A payee made just now came with its shards.)
            async with _side_engine_of(session).begin() as side:
                await _make_shards(side, [payee], range(SHARDS))
        # As this transaction's snapshot has it (a payee made just now is not in it: 0).
        payee_before = await balance(session, account=payee)
    if held is not None and held < amount:
        # Short as this transaction's snapshot has it: refused without taking the wallet's lock
        # (never an overspend either way: a spend that passes here is checked under the lock).
        if undo_on_refusal:
            await driver.run(_UNCLAIM_SQL, (transaction_id,))
        raise InsufficientFunds(payer)
    moved, _, _ = await driver.run(_SPEND_SQL, (payee, shard, amount, amount, payer, amount))
    if moved != 2:
        if undo_on_refusal:
            await driver.run(_UNCLAIM_SQL, (transaction_id,))
        raise InsufficientFunds(payer)
    _, _, entries = await driver.run(
        _SPEND_ENTRIES_SQL,
        (
            transaction_id,
            -amount,
            at,
            payer,
            transaction_id,
            payee,
            amount,
            payee_before + amount,
            at,
        ),
    )
    after = {int(account): int(value) for account, value in entries}
    remembered: dict[int, _Known] = session.info.setdefault(_ACCOUNTS, {})
    if payer in remembered:
        remembered[payer] = _Known(False, remembered[payer].allow_negative, after[payer])
    return Spent(transaction_id, payer, after[payer])


class _Driver:
    """Statements sent straight to the driver's connection, inside the session's transaction:
    a spend's few statements skip SQLAlchemy's per-statement work (its async adaptation, result
    objects), which costs several times the driver's own. Errors come out as SQLAlchemy's (a
    lost connection invalidated, so it answers 503 as anywhere else). While anything watches
    the engine's statements (echo, a cursor-execute listener: logging, fault injection), they
    go through SQLAlchemy instead, so it sees them."""

    __slots__ = ("conn", "raw")

    def __init__(self, conn: AsyncConnection, raw: Any) -> None:
        self.conn = conn
        self.raw = raw

    @classmethod
    async def of(cls, conn: AsyncConnection) -> _Driver:
        sync = conn.sync_connection
        watched = sync is None or (
            conn.sync_engine.echo
            or bool(sync.dispatch.before_cursor_execute)
            or bool(sync.dispatch.after_cursor_execute)
        )
        return cls(conn, None if watched else (await conn.get_raw_connection()).driver_connection)

    async def run(self, sql: str, params: tuple[Any, ...]) -> tuple[int, int, list[Any]]:
        """(rows changed or matched, last insert id, rows returned)."""
        if self.raw is None:
            result = await self.conn.exec_driver_sql(sql, params)
            rows = list(result.all()) if result.returns_rows else []
            return int(result.rowcount), int(result.lastrowid or 0), rows
        dialect = self.conn.dialect
        try:
            async with self.raw.cursor() as cursor:
                await cursor.execute(sql, params)
                rows = list(await cursor.fetchall()) if cursor.description else []
                return int(cursor.rowcount), int(cursor.lastrowid or 0), rows
        except dialect.loaded_dbapi.Error as exc:
            lost = dialect.is_disconnect(exc, None, None)
            if lost:
                await self.conn.invalidate(exc)
            raise DBAPIError.instance(
                sql,
                params,
                exc,
                dialect.loaded_dbapi.Error,
                connection_invalidated=lost,
                dialect=dialect,
            ) from exc


async def _spend_posting(
    session: AsyncSession,
    *,
    kind: str,
    reference: str,
    owner: tuple[str, int, str, str],
    to_purpose: str,
    amount: int,
    user_id: int | None,
    memo: str | None,
    now: datetime,
) -> Spent | None:
    """`spend` through `post` (SQLite, whose one writer makes round trips cheap)."""
    owner_type, owner_id, purpose, currency = owner
    payer = await account_id(
        session, owner_type=owner_type, owner_id=owner_id, purpose=purpose, currency=currency
    )
    payee = await platform_account(
        session, purpose=to_purpose, currency=currency, allow_negative=True
    )
    posted = await post(
        session,
        kind=kind,
        reference=reference,
        legs=[(payer, -amount), (payee, amount)],
        user_id=user_id,
        memo=memo,
        now=now,
    )
    if posted is None:
        return None
    return Spent(posted.transaction_id, payer, posted.balance_after[payer])


async def _known(session: AsyncSession, ids: list[int]) -> dict[int, _Known]:
    """What posting needs to know of each account: remembered from `account_id`, else read
    (its flags never change; a sharded account's own balance does not on postings)."""
    known: dict[int, _Known] = session.info.setdefault(_ACCOUNTS, {})
    missing = [account for account in ids if account not in known]
    if missing:
        query = select(
            LedgerAccount.id,
            LedgerAccount.owner_type,
            LedgerAccount.allow_negative,
            LedgerAccount.balance,
        ).where(LedgerAccount.id.in_(missing))
        for row in await session.execute(query):
            _remember(session, row, row.owner_type)
        unseen = [account for account in missing if account not in known]
        if unseen:
            # Made (by a short transaction of its own) after this one's snapshot began: the
            # latest row, with a shared lock no posting waits on.
            for row in await session.execute(
                query.where(LedgerAccount.id.in_(unseen)).with_for_update(read=True)
            ):
                _remember(session, row, row.owner_type)
        absent = set(missing) - set(known)
        if absent:
            raise ValueError(f"no ledger account {sorted(absent)}")
    return {account: known[account] for account in ids}


async def _apply_guarded(
    session: AsyncSession, legs: list[tuple[int, int]], known: dict[int, _Known]
) -> None:
    """The guarded balances' changes: one UPDATE, refused as a whole when a debit would take
    an account below zero that does not allow it."""
    if not legs:
        return
    debits = [
        account for account, amount in legs if amount < 0 and not known[account].allow_negative
    ]
    if len(debits) > 1:
        # Which of several debits fell short is not told by one UPDATE: lock, check, update.
        _balances_after(legs, await lock_accounts(session, [a for a, _ in legs]))
        await _update(session, legs, debit=None)
        return
    debit = debits[0] if debits else None
    if await _update(session, legs, debit=debit) == len(legs):
        return
    if debit is None:  # pragma: no cover - nothing was guarded
        raise RuntimeError("a ledger balance could not be updated")
    # The debit fell short; undo the other legs (their rows are locked by this transaction).
    rest = [(account, -amount) for account, amount in legs if account != debit]
    if rest:
        await _update(session, rest, debit=None)
    raise InsufficientFunds(debit)


async def _update(session: AsyncSession, legs: list[tuple[int, int]], *, debit: int | None) -> int:
    """Add each leg's amount to its account's balance, all in one statement (rows locked in id
    order); the `debit` account's only if it stays at or above zero. The rows changed."""
    change = case(dict(legs), value=LedgerAccount.id, else_=0)
    where: list[ColumnElement[bool]] = [LedgerAccount.id.in_([account for account, _ in legs])]
    if debit is not None:
        where.append(or_(LedgerAccount.id != debit, LedgerAccount.balance + change >= 0))
    changed = await session.execute(
        update(LedgerAccount)
        .where(*where)
        .values(balance=LedgerAccount.balance + change)
        .execution_options(synchronize_session=False)
    )
    return int(changed.rowcount)  # type: ignore[attr-defined]


async def _add_to_shards(session: AsyncSession, legs: list[tuple[int, int]], *, shard: int) -> None:
    """Add each leg to its account's shard `shard`, without reading it first."""

    async def add() -> int:
        change = case(dict(legs), value=LedgerAccountShard.account_id, else_=0)
        changed = await session.execute(
            update(LedgerAccountShard)
            .where(
                LedgerAccountShard.account_id.in_([account for account, _ in legs]),
                LedgerAccountShard.shard == shard,
            )
            .values(balance=LedgerAccountShard.balance + change)
            .execution_options(synchronize_session=False)
        )
        return int(changed.rowcount)  # type: ignore[attr-defined]

    if await add() != len(legs):
        # An account made before its shards were (or with fewer): make the missing row.
        await _make_shards(session, [account for account, _ in legs], [shard])
        if await add() != len(legs):  # pragma: no cover
            raise RuntimeError("a ledger shard could not be updated")


def _with_shards() -> ColumnElement[int]:
    """An account's balance: its own row's plus its shards'."""
    shards = (
        select(func.coalesce(func.sum(LedgerAccountShard.balance), 0))
        .where(LedgerAccountShard.account_id == LedgerAccount.id)
        .scalar_subquery()
    )
    return LedgerAccount.balance + shards


async def _balances(session: AsyncSession, known: dict[int, _Known]) -> dict[int, int]:
    """The accounts' balances after this transaction's changes, in one statement: a guarded
    account's row (changed, so locked, by this transaction), a sharded account's own balance
    plus its shards as this transaction sees them."""
    guarded = [account for account, seen in known.items() if not seen.sharded]
    sharded = [account for account, seen in known.items() if seen.sharded]
    own = select(LedgerAccount.id, LedgerAccount.balance).where(LedgerAccount.id.in_(guarded))
    shards = (
        select(LedgerAccountShard.account_id, func.sum(LedgerAccountShard.balance))
        .where(LedgerAccountShard.account_id.in_(sharded))
        .group_by(LedgerAccountShard.account_id)
    )
    query: Executable = (
        union_all(own, shards) if guarded and sharded else own if guarded else shards
    )
    after = {account: known[account].own for account in sharded}
    for account, value in await session.execute(query):
        after[int(account)] = after.get(int(account), 0) + int(value)
    return after


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
    """Lock the accounts in id order; their balances and whether each may go negative. For
    guarded accounts (a sharded one's balance is not all in its row, and is never locked)."""
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


def seen_balance(session: AsyncSession, *, account: int) -> int | None:
    """A guarded account's balance as this transaction last read or posted it (its snapshot:
    without a round trip, possibly older than the latest), None when it has not seen it."""
    seen = session.info.get(_ACCOUNTS, {}).get(account)
    return None if seen is None or seen.sharded else int(seen.own)


async def balance(reader: Reader, *, account: int, fresh: bool = False) -> int:
    """An account's balance; `fresh` reads the latest committed one (a shared locking read)
    rather than this transaction's snapshot."""
    query = select(_with_shards()).where(LedgerAccount.id == account)
    value = await reader.scalar(query.with_for_update(read=True) if fresh else query)
    return int(value or 0)


async def balance_of(
    reader: Reader, *, owner_type: str, owner_id: int, purpose: str, currency: str
) -> int:
    """An account's balance (0 when it was never used); creates nothing."""
    value = await reader.scalar(
        select(_with_shards()).where(
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
