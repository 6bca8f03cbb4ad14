"""Migrations: one linear history that upgrades, downgrades and matches the models on both servers.

Every alembic command runs in a worker thread: the async env.py drives its own event loop with
asyncio.run, which cannot nest inside the tests' loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from sqlalchemy import JSON, inspect, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine

import models
from models.content.search import schema_filter
from server.__main__ import alembic_config
from tests.helpers.env import MYSQL_BASE, WORKER, create_database, drop_database, make_settings

# Tables alembic itself owns; not part of the models.
ALEMBIC_TABLES = {"alembic_version"}


def config_for(url: str) -> Config:
    config = alembic_config(make_settings(database_url=url))
    config.attributes["skip_logging"] = True  # keep pytest's logging setup intact
    return config


def revisions_oldest_first() -> list[Script]:
    script = ScriptDirectory.from_config(config_for("sqlite+aiosqlite:///:memory:"))
    return list(reversed(list(script.walk_revisions("base", "heads"))))


def _snapshot(conn: Connection) -> dict[str, Any]:
    """Tables with their columns (name, type, nullability), indexes and unique constraints."""
    inspector = inspect(conn)
    schema: dict[str, Any] = {}
    for table in sorted(set(inspector.get_table_names()) - ALEMBIC_TABLES):
        schema[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)
            ],
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                for i in inspector.get_indexes(table)
            ),
            "uniques": sorted(
                (u["name"], tuple(u["column_names"]))
                for u in inspector.get_unique_constraints(table)
            ),
        }
    return schema


async def snapshot(url: str) -> dict[str, Any]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_snapshot)
    finally:
        await engine.dispose()


async def differences_from_models(url: str) -> list[Any]:
    def compare(conn: Connection) -> list[Any]:
        # SQLite's FTS5 search tables are virtual, outside the models (models/search.py).
        include = schema_filter(conn.dialect.name)
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": include}
        )
        return list(compare_metadata(context, models.Base.metadata))

    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(compare)
    finally:
        await engine.dispose()


async def run_stairway(url: str) -> None:
    """For each revision: upgrade to it, downgrade one step, upgrade again.

    The downgrade must restore exactly the schema that was there before the upgrade.
    """
    config = config_for(url)
    revisions = revisions_oldest_first()
    assert revisions, "no revisions found"
    before = await snapshot(url)
    for revision in revisions:
        await asyncio.to_thread(command.upgrade, config, revision.revision)
        after = await snapshot(url)
        down_to = revision.down_revision or "base"
        assert isinstance(down_to, str), f"{revision.revision} is a merge revision"
        await asyncio.to_thread(command.downgrade, config, down_to)
        assert await snapshot(url) == before, f"downgrade of {revision.revision} left changes"
        await asyncio.to_thread(command.upgrade, config, revision.revision)
        assert await snapshot(url) == after, f"re-upgrade to {revision.revision} differs"
        before = after  # the schema the next revision starts from


@pytest.fixture
async def fresh_mysql_url() -> AsyncIterator[str]:
    name = f"sharestack_test_stairway_{WORKER}"
    url = await create_database(name)
    try:
        yield url
    finally:
        await drop_database(name)


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


async def test_stairway_upgrades_downgrades_and_upgrades_every_revision_on_mariadb(
    fresh_mysql_url: str,
) -> None:
    await run_stairway(fresh_mysql_url)
    await asyncio.to_thread(command.downgrade, config_for(fresh_mysql_url), "base")
    assert await snapshot(fresh_mysql_url) == {}


async def test_stairway_upgrades_downgrades_and_upgrades_every_revision_on_sqlite(
    tmp_path: Path,
) -> None:
    url = sqlite_url(tmp_path / "stairway.db")
    await run_stairway(url)
    await asyncio.to_thread(command.downgrade, config_for(url), "base")
    assert await snapshot(url) == {}


async def test_models_and_migrations_agree_on_mariadb(database_url: str) -> None:
    # The session database was migrated to head by conftest. MariaDB stores JSON as LONGTEXT
    # (with a json_valid() check) and reflects it so; alembic's MySQL implementation already
    # counts JSON and LONGTEXT as the same type, so no difference needs filtering here.
    assert await differences_from_models(database_url) == []


async def test_models_and_migrations_agree_on_sqlite(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "head.db")
    await asyncio.to_thread(command.upgrade, config_for(url), "head")
    assert await differences_from_models(url) == []


def test_history_has_exactly_one_head() -> None:
    script = ScriptDirectory.from_config(config_for("sqlite+aiosqlite:///:memory:"))
    assert len(script.get_heads()) == 1, script.get_heads()
    assert len(script.get_bases()) == 1, script.get_bases()


def test_history_is_linear_from_base_to_head() -> None:
    revisions = revisions_oldest_first()
    previous: str | None = None
    for revision in revisions:
        assert not isinstance(revision.down_revision, tuple | list), (
            f"{revision.revision} merges {revision.down_revision}"
        )
        assert revision.down_revision == previous, (
            f"{revision.revision} revises {revision.down_revision}, expected {previous}"
        )
        assert len(revision.nextrev) <= 1, f"{revision.revision} branches into {revision.nextrev}"
        assert not revision.branch_labels, f"{revision.revision} carries a branch label"
        previous = revision.revision
    script = ScriptDirectory.from_config(config_for("sqlite+aiosqlite:///:memory:"))
    assert previous == script.get_current_head()


async def test_every_table_is_utf8mb4_unicode_ci_on_mariadb(database_url: str) -> None:
    name = make_url(database_url).database
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            tables = dict(
                (
                    await conn.execute(
                        text(
                            "SELECT TABLE_NAME, TABLE_COLLATION FROM information_schema.TABLES "
                            "WHERE TABLE_SCHEMA = :schema"
                        ),
                        {"schema": name},
                    )
                ).all()
            )
            columns = (
                await conn.execute(
                    text(
                        "SELECT TABLE_NAME, COLUMN_NAME, CHARACTER_SET_NAME, COLLATION_NAME "
                        "FROM information_schema.COLUMNS "
                        "WHERE TABLE_SCHEMA = :schema AND CHARACTER_SET_NAME IS NOT NULL"
                    ),
                    {"schema": name},
                )
            ).all()
    finally:
        await engine.dispose()
    assert set(models.Base.metadata.tables) <= set(tables)
    assert {t: c for t, c in tables.items() if c != "utf8mb4_unicode_ci"} == {}
    # MariaDB's JSON is an alias of LONGTEXT that the server itself pins to utf8mb4_bin (MySQL's
    # JSON is binary and has no collation), whatever the table says: expected for JSON columns.
    json_columns = {
        (table.name, column.name)
        for table in models.Base.metadata.tables.values()
        for column in table.columns
        if isinstance(column.type, JSON)
    }
    expected = {
        (t, c): ("utf8mb4", "utf8mb4_bin" if (t, c) in json_columns else "utf8mb4_unicode_ci")
        for t, c, _, _ in columns
    }
    assert {(t, c): (cs, co) for t, c, cs, co in columns} == expected


async def test_migrations_pin_utf8mb4_even_in_a_latin1_database() -> None:
    """The charset comes from the migrations, not from the database's default."""
    name = f"sharestack_test_latin1_{WORKER}"
    server = create_async_engine(f"{MYSQL_BASE}/")
    async with server.begin() as conn:
        await conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
        await conn.execute(
            text(f"CREATE DATABASE `{name}` CHARACTER SET latin1 COLLATE latin1_swedish_ci")
        )
    await server.dispose()
    url = f"{MYSQL_BASE}/{name}?charset=utf8mb4"
    try:
        await asyncio.to_thread(command.upgrade, config_for(url), "head")
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                tables = dict(
                    (
                        await conn.execute(
                            text(
                                "SELECT TABLE_NAME, TABLE_COLLATION "
                                "FROM information_schema.TABLES WHERE TABLE_SCHEMA = :schema"
                            ),
                            {"schema": name},
                        )
                    ).all()
                )
        finally:
            await engine.dispose()
    finally:
        await drop_database(name)
    # alembic_version is alembic's own bookkeeping table (ASCII revision ids), created without
    # table options, so it follows the database default.
    ours = {t: c for t, c in tables.items() if t not in ALEMBIC_TABLES}
    assert set(ours) == set(models.Base.metadata.tables)
    assert set(ours.values()) == {"utf8mb4_unicode_ci"}
