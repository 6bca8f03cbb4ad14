"""Creator earnings: each sale's split, settlement after a delay, refunds clawing back."""

from __future__ import annotations

from typing import Protocol

from server.db import UnitOfWork


class SoldOrder(Protocol):
    """What earnings need to know about a paid order."""

    id: int
    user_id: int
    currency: str


class SoldItem(Protocol):
    """What earnings need to know about one sold order item."""

    id: int
    creator_id: int | None
    amount: int


async def record_sale(uow: UnitOfWork, *, order: SoldOrder, item: SoldItem) -> int | None:
    """Record the creator's share of a sold item (fee + net == amount) and post it to the
    ledger as pending earnings; idempotent per order item. None for platform items."""
    return None


async def claw_back(uow: UnitOfWork, *, order: SoldOrder, item: SoldItem, amount: int) -> None:
    """Take back the creator's proportional share of `amount` refunded on the item."""
    return None
