"""Revision 0018 takes paid text out of the search index of existing items."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import create_async_engine

from models.content.items import Content, ContentVersion
from models.content.search import SearchDocument
from models.identity.users import User
from server.content.search import tokenizer
from server.content.search.service import document
from tests.helpers.env import WORKER, create_database, drop_database
from tests.migrations.test_migrations import config_for

BODY = "open preview words\n\n<!-- paywall -->\n\nsecret zebracorn recipe\n"


@pytest.fixture
async def mysql_url() -> AsyncIterator[str]:
    name = f"sharestack_test_search18_{WORKER}"
    url = await create_database(name)
    try:
        yield url
    finally:
        await drop_database(name)


async def seed(url: str, access: str) -> int:
    """A published item indexed the old way: its whole body."""
    now = datetime.now(UTC).replace(microsecond=0)
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            author = (
                await conn.execute(
                    insert(User).values(
                        nickname="author", roles=["creator"], created_at=now, updated_at=now
                    )
                )
            ).inserted_primary_key[0]
            content_id = (
                await conn.execute(
                    insert(Content).values(
                        author_id=author,
                        kind="article",
                        status="published",
                        access=access,
                        price_cents=0 if access == "free" else 100,
                        currency="CNY",
                        title="t",
                        summary="",
                        body=BODY,
                        saved_at=now,
                        published_version=1,
                        published_title="标题",
                        published_summary="",
                        published_html="",
                        preview_html="",
                        published_at=now,
                        created_at=now,
                        updated_at=now,
                    )
                )
            ).inserted_primary_key[0]
            await conn.execute(
                insert(ContentVersion).values(
                    content_id=content_id,
                    number=1,
                    title="标题",
                    summary="",
                    body=BODY,
                    editor_id=author,
                    created_at=now,
                )
            )
            await conn.execute(
                insert(SearchDocument).values(
                    content_id=content_id,
                    tokens=document(title="标题", summary="", body=BODY, tags=[]),
                    indexed_at=now,
                )
            )
        return int(content_id)
    finally:
        await engine.dispose()


async def tokens(url: str) -> dict[int, set[str]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(select(SearchDocument.content_id, SearchDocument.tokens))
            return {content_id: set(text.split()) for content_id, text in rows}
    finally:
        await engine.dispose()


@pytest.mark.parametrize("dialect", ["mariadb", "sqlite"])
async def test_the_paid_part_of_indexed_items_is_removed_and_free_items_kept_whole(
    dialect: str, mysql_url: str, tmp_path
) -> None:
    url = mysql_url if dialect == "mariadb" else f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    config = config_for(url)
    await asyncio.to_thread(command.upgrade, config, "0017")
    paid, free = await seed(url, "paid"), await seed(url, "free")
    secret, public = tokenizer.encode("zebracorn"), tokenizer.encode("preview")
    assert secret in (await tokens(url))[paid]

    await asyncio.to_thread(command.upgrade, config, "0018")

    after = await tokens(url)
    assert secret not in after[paid] and public in after[paid]
    assert tokenizer.encode("标题") in after[paid]
    assert secret in after[free]
