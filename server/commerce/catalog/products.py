"""Creators manage their own products, admins every product; a plan names its contents.

A content item's one-off product (kind `content`, or `course` for a course) sells it at the
item's price: its price and currency must be the item's (change them on the item, and the
product follows in the same transaction: server/content/items/offers.py), an item has at most
one such product that is not archived, and it is active only while the item is paid and
published.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.commerce.catalog import Product
from models.content.items import Category, Content, PlanContent
from server.audit import record_admin_action
from server.commerce.catalog.errors import (
    ContentHasProduct,
    InvalidProduct,
    NotOwner,
    ProductNotFound,
)
from server.commerce.catalog.schemas import (
    PlanContentOut,
    PlanContents,
    ProductCreate,
    ProductOut,
    ProductPatch,
)
from server.content.items import offers

KIND_FIELDS = {
    "content": {"content_id"},
    "course": {"content_id"},
    "plan": {"interval", "trial_days"},
    "credits": {"credits"},
    "physical": {"stock"},
}
OPTIONAL = {"content_id", "credits", "interval", "stock"}
# Fields a patch may set to null.
NULLABLE = OPTIONAL | {"category_id", "cover_url"}


@dataclass(frozen=True, slots=True)
class Actor:
    """Who manages products: a creator (their own) or an admin (all, and platform products)."""

    user_id: int
    is_admin: bool
    is_creator: bool


def product_out(product: Product) -> ProductOut:
    average = round(product.rating_sum / product.rating_count, 2) if product.rating_count else None
    return ProductOut(
        id=product.id,
        creator_id=product.creator_id,
        kind=product.kind,
        title=product.title,
        description=product.description,
        cover_url=product.cover_url,
        category_id=product.category_id,
        price=product.price,
        currency=product.currency,
        status=product.status,
        content_id=product.content_id,
        credits=product.credits,
        interval=product.interval,
        trial_days=product.trial_days,
        stock=product.stock,
        rating_count=product.rating_count,
        rating_average=average,
        created_at=product.created_at,
        updated_at=product.updated_at,
    )


def can_manage(actor: Actor | None, product: Product) -> bool:
    if actor is None:
        return False
    return actor.is_admin or (
        product.creator_id is not None and product.creator_id == actor.user_id
    )


async def load(session: AsyncSession, *, product_id: int, lock: bool = False) -> Product:
    query = select(Product).where(Product.id == product_id)
    product = (await session.scalars(query.with_for_update() if lock else query)).one_or_none()
    if product is None:
        raise ProductNotFound()
    return product


async def load_visible(session: AsyncSession, *, product_id: int, actor: Actor | None) -> Product:
    """A product for sale, or any product of its manager; 404 for others' drafts."""
    product = await load(session, product_id=product_id)
    if product.status != "active" and not can_manage(actor, product):
        raise ProductNotFound()
    return product


async def load_for_edit(
    session: AsyncSession, *, product_id: int, actor: Actor, lock: bool = True
) -> Product:
    product = await load_visible(session, product_id=product_id, actor=actor)
    if not can_manage(actor, product):
        raise NotOwner()
    if lock:
        product = await load(session, product_id=product_id, lock=True)
    return product


async def _check(session: AsyncSession, product: Product, *, actor: Actor) -> None:
    """The product's fields fit its kind; its content and category exist (content: the seller's)."""
    allowed = KIND_FIELDS[product.kind]
    stray = [name for name in OPTIONAL - allowed if getattr(product, name) is not None]
    if stray or (product.trial_days and product.kind != "plan"):
        names = stray or ["trial_days"]
        raise InvalidProduct(fields={name: f"Not for a {product.kind} product." for name in names})
    if product.kind in ("content", "course"):
        await _check_content(session, product, actor=actor)
    if product.kind == "credits" and not product.credits:
        raise InvalidProduct(fields={"credits": "A credit pack adds at least 1 credit."})
    if product.kind == "plan" and product.interval is None:
        raise InvalidProduct(fields={"interval": "A plan bills by month or year."})
    if product.category_id is not None and await session.get(Category, product.category_id) is None:
        raise InvalidProduct(fields={"category_id": "No such category."})


async def _check_content(session: AsyncSession, product: Product, *, actor: Actor) -> None:
    if product.content_id is None:
        raise InvalidProduct(fields={"content_id": "Name the content item or course sold."})
    # The content row is locked: the item's price and its product change one at a time.
    row = (
        await session.execute(
            select(
                Content.author_id,
                Content.kind,
                Content.status,
                Content.access,
                Content.price_cents,
                Content.currency,
            )
            .where(Content.id == product.content_id)
            .with_for_update()
        )
    ).one_or_none()
    seller = product.creator_id
    if row is None or (seller is not None and row.author_id != seller):
        raise InvalidProduct(fields={"content_id": "Not a content item of yours."})
    if offers.one_off_kind(row.kind) != product.kind:
        raise InvalidProduct(
            fields={"content_id": f"A {product.kind} product sells a {product.kind}."}
        )
    if product.status == "archived":
        return
    if (product.price, product.currency) != (row.price_cents, row.currency):
        raise InvalidProduct(
            fields={
                "price": f"An item sells at its own price, {row.price_cents} {row.currency}; "
                "change the price on the item."
            }
        )
    if product.status == "active" and not offers.on_sale(access=row.access, status=row.status):
        raise InvalidProduct(fields={"status": "Only a published paid item is sold one-off."})
    other = select(Product.id).where(
        Product.content_id == product.content_id,
        Product.kind.in_(("content", "course")),
        Product.status != "archived",
    )
    if product.id is not None:
        other = other.where(Product.id != product.id)
    found = await session.scalar(other.limit(1))
    if found is not None:
        raise ContentHasProduct(f"The item is sold through product {found}.")


async def create(
    session: AsyncSession, *, actor: Actor, body: ProductCreate, now: datetime
) -> ProductOut:
    """A new product of the creator (or, made by an admin who is no creator, of the platform)."""
    fields = body.model_dump(exclude_none=True, mode="json")
    fields.setdefault("description", "")
    fields.setdefault("trial_days", 0)
    product = Product(
        **fields,
        creator_id=actor.user_id if actor.is_creator else None,
        created_at=now,
        updated_at=now,
    )
    await _check(session, product, actor=actor)
    session.add(product)
    await session.flush()
    return product_out(product)


async def _audit(
    session: AsyncSession, actor: Actor, product: Product, action: str, detail: dict[str, Any]
) -> None:
    """An admin changing someone else's product leaves a line in the admin log."""
    if actor.is_admin and product.creator_id != actor.user_id:
        await record_admin_action(
            session,
            admin_id=actor.user_id,
            action=action,
            target_type="product",
            target_id=product.id,
            detail=detail,
        )


async def update(
    session: AsyncSession, *, actor: Actor, product_id: int, body: ProductPatch, now: datetime
) -> ProductOut:
    product = await load_for_edit(session, product_id=product_id, actor=actor, lock=False)
    if product.content_id is not None:
        # The item's row before the product's, in the order a price change on the item takes.
        await session.execute(
            select(Content.id).where(Content.id == product.content_id).with_for_update()
        )
    product = await load(session, product_id=product_id, lock=True)
    changes = body.model_dump(exclude_unset=True, mode="json")
    await _audit(session, actor, product, "product.updated", {"fields": sorted(changes)})
    for name, value in body.model_dump(exclude_unset=True, mode="json").items():
        if value is None and name not in NULLABLE:
            raise InvalidProduct(fields={name: "May not be null."})
        setattr(product, name, value)
    await _check(session, product, actor=actor)
    product.updated_at = now
    await session.flush()
    return product_out(product)


async def archive(session: AsyncSession, *, actor: Actor, product_id: int, now: datetime) -> None:
    """Take a product off sale; orders and reviews keep pointing at it."""
    product = await load_for_edit(session, product_id=product_id, actor=actor)
    await _audit(session, actor, product, "product.archived", {})
    product.status = "archived"
    product.updated_at = now
    await session.flush()


async def plan_contents(session: AsyncSession, *, plan_id: int) -> PlanContents:
    rows = await session.execute(
        select(Content.id, Content.title, Content.kind)
        .join(PlanContent, PlanContent.content_id == Content.id)
        .where(PlanContent.plan_id == plan_id)
        .order_by(Content.id)
    )
    items = [PlanContentOut(content_id=r.id, title=r.title, kind=r.kind) for r in rows.all()]
    return PlanContents(plan_id=plan_id, items=items)


async def set_plan_contents(
    session: AsyncSession, *, actor: Actor, plan_id: int, content_ids: list[int]
) -> PlanContents:
    """Replace what a plan includes; only the plan creator's own contents (any for the platform)."""
    plan = await load_for_edit(session, product_id=plan_id, actor=actor)
    if plan.kind != "plan":
        raise InvalidProduct(fields={"id": "Only a plan includes contents."})
    wanted = sorted(set(content_ids))
    if wanted:
        query = select(Content.id).where(Content.id.in_(wanted))
        if plan.creator_id is not None:
            query = query.where(Content.author_id == plan.creator_id)
        found = set((await session.scalars(query)).all())
        foreign = [cid for cid in wanted if cid not in found]
        if foreign:
            listed = ", ".join(map(str, foreign))
            raise InvalidProduct(fields={"content_ids": f"Not contents of yours: {listed}."})
    await session.execute(delete(PlanContent).where(PlanContent.plan_id == plan_id))
    if wanted:
        await session.execute(
            insert(PlanContent), [{"plan_id": plan_id, "content_id": cid} for cid in wanted]
        )
    await session.flush()
    return await plan_contents(session, plan_id=plan_id)
