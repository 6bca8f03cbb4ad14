"""Revision 0026: one price per content item, sold through at most one one-off product."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from models.commerce.catalog import Product
from models.content.items import Content
from models.identity.users import User
from tests.helpers.env import WORKER, create_database, drop_database
from tests.migrations.test_migrations import config_for


@pytest.fixture
async def mysql_url() -> AsyncIterator[str]:
    name = f"sharestack_test_price26_{WORKER}"
    url = await create_database(name)
    try:
        yield url
    finally:
        await drop_database(name)


NOW = datetime.now(UTC).replace(microsecond=0)


async def item(conn: AsyncConnection, author: int, **fields: Any) -> int:
    values: dict[str, Any] = {
        "author_id": author,
        "kind": "article",
        "status": "published",
        "access": "paid",
        "price_cents": 990,
        "currency": "CNY",
        "title": "工作标题",
        "summary": "",
        "body": "",
        "saved_at": NOW,
        "published_version": 1,
        "published_title": "文章",
        "published_summary": "摘要",
        "published_at": NOW,
        "created_at": NOW,
        "updated_at": NOW,
        **fields,
    }
    return int((await conn.execute(insert(Content).values(**values))).inserted_primary_key[0])


async def sold_by(conn: AsyncConnection, content_id: int, price: int, status: str, n: int) -> int:
    values = {
        "creator_id": None,
        "kind": "content",
        "title": "旧商品",
        "description": "",
        "price": price,
        "currency": "CNY",
        "status": status,
        "content_id": content_id,
        "created_at": NOW + timedelta(seconds=n),
        "updated_at": NOW + timedelta(seconds=n),
    }
    return int((await conn.execute(insert(Product).values(**values))).inserted_primary_key[0])


@pytest.mark.parametrize("dialect", ["mariadb", "sqlite"])
async def test_extra_one_off_products_are_archived_and_the_kept_one_takes_the_items_price(
    dialect: str, mysql_url: str, tmp_path: Path
) -> None:
    url = mysql_url if dialect == "mariadb" else f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    config = config_for(url)
    await asyncio.to_thread(command.upgrade, config, "0022")
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            author = (
                await conn.execute(
                    insert(User).values(
                        nickname="author", roles=["creator"], created_at=NOW, updated_at=NOW
                    )
                )
            ).inserted_primary_key[0]
            # The case: shown at 990 分, sold at 1 分 and at 5,000 分.
            article = await item(conn, author)
            old_draft = await sold_by(conn, article, 7, "draft", 0)
            cheap = await sold_by(conn, article, 1, "active", 1)
            dear = await sold_by(conn, article, 5000, "active", 2)
            gone = await sold_by(conn, article, 3, "archived", 3)
            unsold = await item(conn, author, price_cents=1200)
            free = await item(conn, author, access="free", price_cents=0)
            free_product = await sold_by(conn, free, 300, "active", 4)
            paid_draft = await item(conn, author, status="draft", published_version=None)

        await asyncio.to_thread(command.upgrade, config, "0026")

        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(
                        Product.id,
                        Product.content_id,
                        Product.price,
                        Product.status,
                        Product.title,
                        Product.creator_id,
                    ).order_by(Product.id)
                )
            ).all()
    finally:
        await engine.dispose()
    by_id = {row.id: row for row in rows}
    assert (by_id[cheap].price, by_id[cheap].status) == (990, "active")
    assert by_id[dear].status == by_id[old_draft].status == "archived"
    assert (by_id[gone].price, by_id[gone].status) == (3, "archived")
    assert (by_id[free_product].price, by_id[free_product].status) == (0, "draft")
    [made] = [row for row in rows if row.content_id == unsold]
    assert (made.price, made.status, made.title, made.creator_id) == (
        1200,
        "active",
        "文章",
        author,
    )
    assert not [row for row in rows if row.content_id == paid_draft]
