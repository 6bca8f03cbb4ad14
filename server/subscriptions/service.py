"""Subscriptions to plan products: periods bought by orders or charged to the wallet, renewals,
grace after a failed renewal, cancel at period end and resume."""

from __future__ import annotations

from typing import Protocol

from server.db import UnitOfWork


class PaidOrder(Protocol):
    """What a subscription needs to know about a paid order."""

    id: int
    user_id: int


class PaidItem(Protocol):
    """What a subscription needs to know about the plan's order item."""

    id: int
    product_id: int


async def start_or_extend(uow: UnitOfWork, *, order: PaidOrder, item: PaidItem) -> int | None:
    """A paid plan item: start the user's subscription (with the plan's trial when the user
    never trialled it) or extend the live one by a period; idempotent per order item. Returns
    the subscription id."""
    return None
