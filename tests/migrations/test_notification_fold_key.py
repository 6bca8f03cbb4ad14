"""Revision 0024 opens each user's latest unread row of a group key for folding, and no other."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import create_async_engine

from models.identity.users import User
from tests.helpers.env import WORKER, create_database, drop_database
from tests.migrations.test_migrations import config_for

NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


@pytest.fixture
async def mysql_url() -> AsyncIterator[str]:
    name = f"sharestack_test_fold24_{WORKER}"
    url = await create_database(name)
    try:
        yield url
    finally:
        await drop_database(name)


async def seed(url: str) -> dict[str, int]:
    """Two users' notifications, made before the revision, in this order; their ids by name."""
    # (name, user, group key, read)
    made = [
        ("ann_duplicate", "ann", "like:content:7", False),
        ("ann_open", "ann", "like:content:7", False),
        ("ann_older_unread", "ann", "like:content:8", False),
        ("ann_read", "ann", "like:content:8", True),
        ("ann_plain", "ann", None, False),
        ("bob_open", "bob", "like:content:7", False),
    ]
    engine = create_async_engine(url)
    ids: dict[str, int] = {}
    try:
        async with engine.begin() as conn:
            users = {}
            for nickname in ("ann", "bob"):
                users[nickname] = (
                    await conn.execute(
                        insert(User).values(
                            nickname=nickname, roles=["reader"], created_at=NOW, updated_at=NOW
                        )
                    )
                ).inserted_primary_key[0]
            for name, user, key, read in made:
                # Raw SQL: the model's table already has the revision's column.
                result = await conn.execute(
                    text(
                        "INSERT INTO notifications (user_id, type, title, body, data, read_at, "
                        "created_at, group_key, count, actor_ids, updated_at) VALUES (:user, "
                        "'content.liked', 't', '', '{}', :read_at, :now, :key, 1, '[]', :now)"
                    ),
                    {
                        "user": users[user],
                        "read_at": NOW.replace(tzinfo=None) if read else None,
                        "now": NOW.replace(tzinfo=None),
                        "key": key,
                    },
                )
                ids[name] = int(result.lastrowid)
    finally:
        await engine.dispose()
    return ids


async def fold_keys(url: str) -> dict[int, Any]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT id, fold_key FROM notifications"))
            return {int(row.id): row.fold_key for row in rows}
    finally:
        await engine.dispose()


@pytest.mark.parametrize("dialect", ["mariadb", "sqlite"])
async def test_only_the_latest_unread_row_of_a_key_is_left_open(
    dialect: str, mysql_url: str, tmp_path
) -> None:
    url = mysql_url if dialect == "mariadb" else f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    config = config_for(url)
    before = ScriptDirectory.from_config(config).get_revision("0024").down_revision
    assert isinstance(before, str)
    await asyncio.to_thread(command.upgrade, config, before)
    ids = await seed(url)

    await asyncio.to_thread(command.upgrade, config, "0024")

    keys = await fold_keys(url)
    assert {name: keys[ids[name]] for name in ids} == {
        "ann_duplicate": None,
        "ann_open": "like:content:7",
        "ann_older_unread": None,
        "ann_read": None,
        "ann_plain": None,
        "bob_open": "like:content:7",
    }
