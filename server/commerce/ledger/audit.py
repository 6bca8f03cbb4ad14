"""Ledger self-check: every transaction balances, every balance (an account's own row plus its
shards) equals its entries, and no account that may not go negative is below zero: neither
one guarded on every posting nor a sharded platform account that must hold money in total
(`FLOORED`: cash and revenue are not locked by payments, nor credits held for AI answers by
their holds, so their floor is proven here)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select

from models.commerce.ledger import LedgerAccount, LedgerAccountShard, LedgerEntry
from server.db import Reader

# Platform accounts kept in shards (no floor guarded on the posting path) whose total must
# still never be below zero.
FLOORED = frozenset({"cash", "revenue", "credits_held"})


@dataclass(slots=True)
class Audit:
    accounts: int = 0
    # account id -> (balance, sum of its entries) where they differ
    drifted: dict[int, tuple[int, int]] = field(default_factory=dict)
    overdrawn: list[int] = field(default_factory=list)
    # transaction ids whose entries do not sum to zero
    unbalanced: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.drifted or self.overdrawn or self.unbalanced)


async def audit(reader: Reader, *, limit: int = 100) -> Audit:
    """Four aggregate scans (fine for a periodic job, not for a request)."""
    shards = (
        select(LedgerAccountShard.account_id, func.sum(LedgerAccountShard.balance).label("total"))
        .group_by(LedgerAccountShard.account_id)
        .subquery()
    )
    totals = (
        select(LedgerEntry.account_id, func.sum(LedgerEntry.amount).label("total"))
        .group_by(LedgerEntry.account_id)
        .subquery()
    )
    rows = (
        await reader.execute(
            select(
                LedgerAccount.id,
                LedgerAccount.balance + func.coalesce(shards.c.total, 0),
                LedgerAccount.allow_negative,
                func.coalesce(totals.c.total, 0),
                LedgerAccount.owner_type,
                LedgerAccount.purpose,
            )
            .outerjoin(shards, shards.c.account_id == LedgerAccount.id)
            .outerjoin(totals, totals.c.account_id == LedgerAccount.id)
        )
    ).all()
    result = Audit(accounts=len(rows))
    for account, balance, allow_negative, total, owner_type, purpose in rows:
        if int(balance) != int(total):
            result.drifted[int(account)] = (int(balance), int(total))
        floored = not allow_negative or (owner_type == "platform" and purpose in FLOORED)
        if int(balance) < 0 and floored:
            result.overdrawn.append(int(account))
    unbalanced = await reader.execute(
        select(LedgerEntry.transaction_id)
        .group_by(LedgerEntry.transaction_id)
        .having(func.sum(LedgerEntry.amount) != 0)
        .limit(limit)
    )
    result.unbalanced = [int(row[0]) for row in unbalanced]
    return result
