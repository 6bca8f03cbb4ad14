"""The buyer's cart: add (merging quantities), change, remove, list at current prices."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.catalog import Cart, CartItem


async def checkout_items(session: AsyncSession, *, user_id: int) -> list[tuple[int, int]]:
    """The cart as (product_id, quantity) pairs, oldest first, for an order."""
    rows = await session.execute(
        select(CartItem.product_id, CartItem.quantity)
        .join(Cart, Cart.id == CartItem.cart_id)
        .where(Cart.user_id == user_id)
        .order_by(CartItem.id)
    )
    return [(product_id, quantity) for product_id, quantity in rows.all()]


async def clear(session: AsyncSession, *, user_id: int, product_ids: Iterable[int]) -> None:
    """Take these products out of the user's cart (after they were ordered)."""
    ids = list(product_ids)
    if not ids:
        return
    cart_id = select(Cart.id).where(Cart.user_id == user_id).scalar_subquery()
    await session.execute(
        delete(CartItem)
        .where(CartItem.cart_id == cart_id, CartItem.product_id.in_(ids))
        .execution_options(synchronize_session=False)
    )
