"""Wallet helpers: credits put in directly, and the ledger's totals."""

from __future__ import annotations

import itertools

from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from models.commerce.ledger import LedgerAccount, LedgerEntry
from server.commerce.wallet import service as wallet
from server.keys import RUNTIME

_refs = itertools.count(1)


async def give(api: TestClient, user_id: int, amount: int) -> None:
    async with api.app[RUNTIME].db.unit_of_work() as uow:
        await wallet.credit(
            uow,
            user_id=user_id,
            amount=amount,
            kind="credits.grant",
            reference=f"test:{next(_refs)}",
        )


async def ledger_totals(api: TestClient, user_id: int) -> tuple[int, int, int]:
    """(the wallet's balance, the sum of its entries, the sum of every entry anywhere)."""
    async with api.app[RUNTIME].db.read() as session:
        account = await session.scalar(
            select(LedgerAccount).where(
                LedgerAccount.owner_type == "user", LedgerAccount.owner_id == user_id
            )
        )
        assert account is not None
        own = await session.scalar(
            select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
                LedgerEntry.account_id == account.id
            )
        )
        everything = await session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount), 0)))
        return account.balance, int(own or 0), int(everything or 0)
