"""The buyer's cart: add (merging quantities), change, remove, list at current prices.

Changes to one user's cart are serialised by a lock on the cart's row.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Select, delete, func, select
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.expression import Executable

from models.commerce.cart import Cart, CartItem
from models.commerce.catalog import Product
from server.commerce.cart.schemas import MAX_ITEMS, CartLine, CartOut
from server.commerce.catalog.errors import InvalidQuantity, OutOfStock, ProductUnavailable
from server.commerce.catalog.service import MAX_QUANTITY
from server.http.errors import Conflict, NotFound


class NotInCart(NotFound):
    code, message = "cart.item_not_found", "This product is not in your cart."


class CartFull(Conflict):
    code, message = "cart.full", f"A cart holds at most {MAX_ITEMS} products."


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


async def _locked_cart(session: AsyncSession, *, user_id: int, now: datetime) -> int:
    """The user's cart id (made on first use), its row locked until the transaction ends.

    An upsert takes the row's exclusive lock at once: a read-then-insert would leave concurrent
    first requests holding shared locks on the duplicate key and deadlock on the upgrade.
    """
    values = {"user_id": user_id, "created_at": now, "updated_at": now}
    upsert: Executable
    if session.get_bind().dialect.name == "mysql":
        statement = mysql_insert(Cart).values(values)
        upsert = statement.on_duplicate_key_update(updated_at=statement.inserted.updated_at)
    else:
        lite = sqlite_insert(Cart).values(values)
        upsert = lite.on_conflict_do_update(
            index_elements=["user_id"], set_={"updated_at": lite.excluded.updated_at}
        )
    await session.execute(upsert)
    cart_id = await session.scalar(select(Cart.id).where(Cart.user_id == user_id))
    assert cart_id is not None
    return cart_id


def _item(cart_id: int, product_id: int) -> Select[CartItem]:
    # A locking read: the transaction's snapshot may predate the cart lock.
    return (
        select(CartItem)
        .where(CartItem.cart_id == cart_id, CartItem.product_id == product_id)
        .with_for_update()
    )


def _checked_quantity(product: Product, quantity: int) -> int:
    if product.kind != "physical":
        return 1  # contents, plans and packs are bought once per order
    if quantity > MAX_QUANTITY:
        raise InvalidQuantity(fields={"quantity": f"At most {MAX_QUANTITY}."})
    if product.stock is not None and quantity > product.stock:
        raise OutOfStock(f"Only {product.stock} left.")
    return quantity


async def add(
    session: AsyncSession, *, user_id: int, product_id: int, quantity: int, now: datetime
) -> None:
    """Put a product in the cart; one already there gets the quantities added."""
    product = await session.get(Product, product_id)
    if product is None or product.status != "active":
        raise ProductUnavailable()
    cart_id = await _locked_cart(session, user_id=user_id, now=now)
    item = await session.scalar(_item(cart_id, product_id))
    if item is None:
        count = await session.scalar(
            select(func.count()).select_from(CartItem).where(CartItem.cart_id == cart_id)
        )
        if (count or 0) >= MAX_ITEMS:
            raise CartFull()
        quantity = _checked_quantity(product, quantity)
        session.add(
            CartItem(
                cart_id=cart_id,
                product_id=product_id,
                quantity=quantity,
                created_at=now,
                updated_at=now,
            )
        )
    else:
        item.quantity = _checked_quantity(product, item.quantity + quantity)
        item.updated_at = now
    await session.flush()


async def change(
    session: AsyncSession, *, user_id: int, product_id: int, quantity: int, now: datetime
) -> None:
    cart_id = await _locked_cart(session, user_id=user_id, now=now)
    item = await session.scalar(_item(cart_id, product_id))
    if item is None:
        raise NotInCart()
    product = await session.get(Product, product_id)
    assert product is not None  # the foreign key cascades
    item.quantity = _checked_quantity(product, quantity)
    item.updated_at = now
    await session.flush()


async def remove(session: AsyncSession, *, user_id: int, product_id: int, now: datetime) -> None:
    cart_id = await _locked_cart(session, user_id=user_id, now=now)
    item = await session.scalar(_item(cart_id, product_id))
    if item is None:
        raise NotInCart()
    await session.delete(item)
    await session.flush()


async def view(session: AsyncSession, *, user_id: int) -> CartOut:
    """The cart at current prices; products no longer for sale are flagged and not counted."""
    rows = await session.execute(
        select(CartItem.quantity, Product)
        .join(Cart, Cart.id == CartItem.cart_id)
        .join(Product, Product.id == CartItem.product_id)
        .where(Cart.user_id == user_id)
        .order_by(CartItem.id)
    )
    items: list[CartLine] = []
    totals: dict[str, int] = {}
    count = 0
    for quantity, product in rows.all():
        available = product.status == "active"
        line = CartLine(
            product_id=product.id,
            creator_id=product.creator_id,
            kind=product.kind,
            title=product.title,
            unit_price=product.price,
            quantity=quantity,
            amount=product.price * quantity,
            currency=product.currency,
            available=available,
        )
        items.append(line)
        if available:
            totals[line.currency] = totals.get(line.currency, 0) + line.amount
            count += quantity
    return CartOut(items=items, totals=totals, count=count)
