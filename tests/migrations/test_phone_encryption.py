"""Revision 0004 moves phone numbers out of the clear: existing ones are encrypted, and a
downgrade puts them back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from server.crypto import PiiCipher
from server.identity.users.service import PHONE_CONTEXT
from tests.helpers.env import WORKER, create_database, drop_database, make_settings
from tests.migrations.test_migrations import config_for


@pytest.fixture
async def mysql_url() -> AsyncIterator[str]:
    name = f"sharestack_test_phones_{WORKER}"
    url = await create_database(name)
    try:
        yield url
    finally:
        await drop_database(name)


async def run(url: str, sql: str, **params: object) -> list[tuple]:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            result = await conn.execute(text(sql), params)
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        await engine.dispose()


@pytest.mark.parametrize("dialect", ["mariadb", "sqlite"])
async def test_existing_phones_are_encrypted_and_restored_on_downgrade(
    dialect: str, mysql_url: str, tmp_path
) -> None:
    url = mysql_url if dialect == "mariadb" else f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    config = config_for(url)
    await asyncio.to_thread(command.upgrade, config, "0003")
    await run(
        url,
        "INSERT INTO users (email, phone, password_hash, nickname, roles, status, created_at,"
        " updated_at) VALUES (NULL, '+8613812345678', 'h', 'ann', '[\"reader\"]', 'active',"
        " '2026-11-30 00:00:00', '2026-11-30 00:00:00')",
    )
    await asyncio.to_thread(command.upgrade, config, "0004")

    [(phone_hash, phone_enc, masked)] = await run(
        url, "SELECT phone_hash, phone_enc, phone_masked FROM users"
    )
    pii = PiiCipher.from_settings(make_settings())
    assert pii.decrypt(phone_enc, context=PHONE_CONTEXT) == "+8613812345678"
    assert phone_hash == pii.lookup_hash("+8613812345678", context=PHONE_CONTEXT)
    assert masked == "+86 138****5678"

    await asyncio.to_thread(command.downgrade, config, "0003")
    assert await run(url, "SELECT phone, password_hash FROM users") == [("+8613812345678", "h")]
