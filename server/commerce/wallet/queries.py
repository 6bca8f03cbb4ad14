"""Wallet reads: one user's entries on their credits account, newest first."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from models.commerce.ledger import LedgerAccount, LedgerEntry, LedgerTransaction
from server.commerce.wallet.schemas import TransactionOut
from server.commerce.wallet.service import CURRENCY, PURPOSE
from server.db import Reader
from server.http.pagination import InvalidCursor, Page, decode_cursor, page_of


def _cursor_id(cursor: str | None) -> int | None:
    position = decode_cursor(cursor)
    if position is None:
        return None
    value = position.get("id")
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidCursor()
    return value


async def transactions(
    reader: Reader,
    *,
    user_id: int,
    limit: int,
    cursor: str | None = None,
    kind: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Page[TransactionOut]:
    """One query whatever the page size (the account is a subquery on its unique key)."""
    before = _cursor_id(cursor)
    account = (
        select(LedgerAccount.id)
        .where(
            LedgerAccount.owner_type == "user",
            LedgerAccount.owner_id == user_id,
            LedgerAccount.purpose == PURPOSE,
            LedgerAccount.currency == CURRENCY,
        )
        .scalar_subquery()
    )
    query = (
        select(
            LedgerEntry.id,
            LedgerEntry.transaction_id,
            LedgerTransaction.kind,
            LedgerEntry.amount,
            LedgerEntry.balance_after,
            LedgerTransaction.reference,
            LedgerTransaction.memo,
            LedgerEntry.created_at,
        )
        .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
        .where(LedgerEntry.account_id == account)
        .order_by(LedgerEntry.id.desc())
        .limit(limit + 1)
    )
    if before is not None:
        query = query.where(LedgerEntry.id < before)
    if kind is not None:
        query = query.where(LedgerTransaction.kind == kind)
    if since is not None:
        query = query.where(LedgerEntry.created_at >= since)
    if until is not None:
        query = query.where(LedgerEntry.created_at < until)
    rows = (await reader.execute(query)).all()
    prefix = f"{user_id}:"
    items = [
        TransactionOut(
            id=row.id,
            transaction_id=row.transaction_id,
            kind=row.kind,
            amount=row.amount,
            balance_after=row.balance_after,
            reference=row.reference.removeprefix(prefix),
            memo=row.memo,
            created_at=row.created_at,
        )
        for row in rows
    ]
    return page_of(items, limit, lambda item: {"id": item.id})
