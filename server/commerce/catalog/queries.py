"""Listing products: filters and cursor pages, one query per page."""

from __future__ import annotations

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.commerce.catalog import Product
from models.content.items import PlanContent
from server.commerce.catalog.products import product_out
from server.commerce.catalog.schemas import MyProductQuery, ProductOut, ProductQuery
from server.http.pagination import InvalidCursor, Page, decode_cursor, page_of


def after_id(cursor: str | None) -> int | None:
    """The id a newest-first page continues below; InvalidCursor for anything we did not issue."""
    position = decode_cursor(cursor)
    if position is None:
        return None
    last = position.get("id")
    if not isinstance(last, int) or isinstance(last, bool) or not 0 < last < 2**63:
        raise InvalidCursor()
    return last


def products_statement(query: ProductQuery) -> Select[Product]:
    """The public list's select (before paging): active products matching the filters."""
    statement = select(Product).where(Product.status == "active")
    if query.kind is not None:
        statement = statement.where(Product.kind == query.kind)
    if query.category_id is not None:
        statement = statement.where(Product.category_id == query.category_id)
    if query.creator_id is not None:
        statement = statement.where(Product.creator_id == query.creator_id)
    if query.min_price is not None:
        statement = statement.where(Product.price >= query.min_price)
    if query.max_price is not None:
        statement = statement.where(Product.price <= query.max_price)
    if query.content_id is not None:
        plans = select(PlanContent.plan_id).where(PlanContent.content_id == query.content_id)
        statement = statement.where(
            or_(
                and_(
                    Product.content_id == query.content_id,
                    Product.kind.in_(("content", "course")),
                ),
                and_(Product.kind == "plan", Product.id.in_(plans)),
            )
        )
    return statement


async def list_products(session: AsyncSession, *, query: ProductQuery) -> Page[ProductOut]:
    """Products for sale, newest first, filtered by kind, category, creator, price range and
    the content item they sell."""
    return await _page(session, products_statement(query), query.limit, query.cursor)


async def list_own(
    session: AsyncSession, *, creator_id: int, query: MyProductQuery
) -> Page[ProductOut]:
    """A creator's products in every status, newest first."""
    select_ = select(Product).where(Product.creator_id == creator_id)
    if query.status is not None:
        select_ = select_.where(Product.status == query.status)
    return await _page(session, select_, query.limit, query.cursor)


async def _page(
    session: AsyncSession, statement: Select[Product], limit: int, cursor: str | None
) -> Page[ProductOut]:
    after = after_id(cursor)
    if after is not None:
        statement = statement.where(Product.id < after)
    rows = (await session.scalars(statement.order_by(Product.id.desc()).limit(limit + 1))).all()
    return page_of([product_out(row) for row in rows], limit, lambda item: {"id": item.id})
