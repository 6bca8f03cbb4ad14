"""Categories (a tree) and tags."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models.content.items import Category, Content, ContentTag, Tag
from server.content.items.schemas import CategoryIn, CategoryOut, TagOut
from server.db import Reader
from server.http.errors import Conflict, NotFound, ValidationFailed


class CategoryNotFound(NotFound):
    code, message = "content.category_not_found", "No such category."


class CategoryInUse(Conflict):
    code, message = "content.category_in_use", "The category has subcategories or content."


class SlugTaken(Conflict):
    code, message = "content.slug_taken", "Another category has this slug."


async def list_categories(reader: Reader) -> list[CategoryOut]:
    """The whole tree, parents before children, siblings in order."""
    rows = await reader.execute(
        select(
            Category.id, Category.parent_id, Category.name, Category.slug, Category.position
        ).order_by(Category.position, Category.id)
    )
    by_parent: dict[int | None, list[CategoryOut]] = {}
    for row in rows:
        by_parent.setdefault(row.parent_id, []).append(CategoryOut.model_validate(row._asdict()))
    ordered: list[CategoryOut] = []

    def walk(parent: int | None) -> None:
        for category in by_parent.get(parent, []):
            ordered.append(category)
            walk(category.id)

    walk(None)
    return ordered


async def create_category(session: AsyncSession, *, body: CategoryIn) -> CategoryOut:
    if body.parent_id is not None and await session.get(Category, body.parent_id) is None:
        raise ValidationFailed(fields={"body.parent_id": "No such category."})
    category = Category(
        parent_id=body.parent_id, name=body.name, slug=body.slug, position=body.position
    )
    try:
        async with session.begin_nested():
            session.add(category)
            await session.flush()
    except IntegrityError as exc:
        raise SlugTaken() from exc
    return CategoryOut.model_validate(category, from_attributes=True)


async def delete_category(session: AsyncSession, *, category_id: int) -> None:
    """Remove an empty leaf category."""
    category = await session.get(Category, category_id, with_for_update=True)
    if category is None:
        raise CategoryNotFound()
    child = await session.scalar(
        select(Category.id).where(Category.parent_id == category_id).limit(1)
    )
    used = await session.scalar(
        select(Content.id).where(Content.category_id == category_id).limit(1)
    )
    if child is not None or used is not None:
        raise CategoryInUse()
    await session.delete(category)
    await session.flush()


async def popular_tags(reader: Reader, *, prefix: str | None, limit: int) -> list[TagOut]:
    """Tags by how many items carry them, optionally starting with `prefix`."""
    count = func.count(ContentTag.content_id)
    query = select(Tag.name, count.label("count")).join(ContentTag, ContentTag.tag_id == Tag.id)
    if prefix:
        escaped = (
            prefix.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        )
        query = query.where(Tag.name.like(f"{escaped}%", escape="\\"))
    rows = await reader.execute(
        query.group_by(Tag.id, Tag.name).order_by(count.desc(), Tag.name).limit(limit)
    )
    return [TagOut(name=row.name, count=row.count) for row in rows]
