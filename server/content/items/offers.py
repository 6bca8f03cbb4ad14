"""How an item is bought: its one-off product, kept at the item's price, and the plans that
include it.

One price, the item's: an item's one-off product (a product of kind `content`, or `course` for
a course, pointing at the item) always carries the item's `price_cents` and `currency`. An item
has at most one one-off product that is not archived, and a paid item that is published has
exactly one, active. `sync` keeps this in the caller's transaction, under the caller's lock on
the content row, whenever the item's price, access or state changes; the catalog refuses a
product that would break it (server/commerce/catalog/products.py).

The products table is read and written here directly: models sit below both wings, and content
must not import commerce, whose catalog stands above it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.commerce.catalog import Product
from models.content.items import Content, PlanContent
from server.content.items.schemas import PlanOffer
from server.db import Reader

ONE_OFF_KINDS = ("content", "course")


def one_off_kind(content_kind: str) -> str:
    """The kind of product that sells an item of this kind."""
    return "course" if content_kind == "course" else "content"


def on_sale(*, access: str, status: str) -> bool:
    """Whether an item with this access and status is sold one-off now: paid, and readable by
    buyers (published)."""
    return access == "paid" and status == "published"


async def sync(session: AsyncSession, *, content: Content, now: datetime) -> None:
    """Bring the item's one-off products in step with it (the content row is locked).

    Every product not archived takes the item's price and currency; a second one is archived
    (the oldest stays); the one left is active while the item is on sale and a draft otherwise;
    an item on sale without one gets one.
    """
    rows = (
        await session.scalars(
            select(Product)
            .where(
                Product.content_id == content.id,
                Product.kind.in_(ONE_OFF_KINDS),
                Product.status != "archived",
            )
            .order_by(Product.id)
            .with_for_update()
        )
    ).all()
    wanted = "active" if on_sale(access=content.access, status=content.status) else "draft"
    if not rows:
        if wanted == "active":
            session.add(
                Product(
                    creator_id=content.author_id,
                    kind=one_off_kind(content.kind),
                    title=content.published_title or content.title,
                    description=content.published_summary or "",
                    cover_url=content.cover_url,
                    category_id=content.category_id,
                    price=content.price_cents,
                    currency=content.currency,
                    status="active",
                    content_id=content.id,
                    trial_days=0,
                    created_at=now,
                    updated_at=now,
                )
            )
            await session.flush()
        return
    keep, *extra = sorted(rows, key=lambda row: (row.status != "active", row.id))
    for row in extra:
        row.status, row.updated_at = "archived", now
    if (keep.price, keep.currency, keep.status) != (content.price_cents, content.currency, wanted):
        keep.price, keep.currency, keep.status = content.price_cents, content.currency, wanted
        keep.updated_at = now
    await session.flush()


async def retire(session: AsyncSession, *, content_id: int, now: datetime) -> None:
    """Archive the one-off products of an item about to be deleted."""
    rows = (
        await session.scalars(
            select(Product).where(
                Product.content_id == content_id,
                Product.kind.in_(ONE_OFF_KINDS),
                Product.status != "archived",
            )
        )
    ).all()
    for row in rows:
        row.status, row.updated_at = "archived", now
    await session.flush()


_ONE_OFF = (
    select(Product.id)
    .where(
        Product.content_id == bindparam("content_id"),
        Product.kind.in_(ONE_OFF_KINDS),
        Product.status == "active",
    )
    .order_by(Product.id)
    .limit(1)
)
_PLANS = (
    select(Product.id, Product.title, Product.price, Product.currency, Product.interval)
    .join(PlanContent, PlanContent.plan_id == Product.id)
    .where(
        PlanContent.content_id.in_(bindparam("ids", expanding=True)),
        Product.kind == "plan",
        Product.status == "active",
    )
    .distinct()
    .order_by(Product.id)
)


async def offers_of(
    reader: Reader, *, content_id: int, parent_id: int | None
) -> tuple[int | None, list[PlanOffer]]:
    """The item's active one-off product (or None) and the active plans that include it or its
    course, in two queries."""
    product_id = (await reader.execute(_ONE_OFF, {"content_id": content_id})).scalar()
    ids = [content_id, *([parent_id] if parent_id else [])]
    rows = await reader.execute(_PLANS, {"ids": ids})
    plans = [
        PlanOffer(id=r.id, title=r.title, price=r.price, currency=r.currency, interval=r.interval)
        for r in rows
    ]
    return product_id, plans
