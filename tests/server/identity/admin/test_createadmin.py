"""`python -m server createadmin` and the admin audit log."""

from __future__ import annotations

import contextlib
import re
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from models.audit import AdminLog
from models.identity.users import User
from server.app import create_app
from server.audit import record_admin_action
from server.db import Database
from tests.helpers.auth import login, register
from tests.helpers.env import make_settings
from tests.server.test_cli import embedded_env, run

PASSWORD = "a long admin password"


def rows(database: Path, query: str) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(database)) as conn:
        return conn.execute(query).fetchall()


@pytest.fixture
async def data_dir(tmp_path: Path) -> Path:
    code, out, err = await run("migrate", env=embedded_env(tmp_path))
    assert code == 0, out + err
    return tmp_path


async def test_createadmin_makes_an_admin_who_can_sign_in(data_dir: Path, aiohttp_client) -> None:
    code, out, err = await run(
        "createadmin",
        "--email",
        "Root@Example.com",
        "--nickname",
        "Root",
        env=embedded_env(data_dir, SHARESTACK_ADMIN_PASSWORD=PASSWORD),
    )
    assert code == 0, out + err
    said = re.fullmatch(r"admin user (\d+) \(root@example\.com\) created", out.strip())
    assert said, out
    user_id = int(said.group(1))
    assert PASSWORD not in out + err
    database = data_dir / "sharestack.db"
    (log,) = rows(
        database, "SELECT admin_id, action, target_type, target_id, detail FROM admin_logs"
    )
    assert log[:4] == (user_id, "admin.created", "user", user_id)
    assert orjson.loads(log[4]) == {"created": True, "via": "cli"}

    settings = make_settings(database_url=f"sqlite:///{database}")
    client = await aiohttp_client(create_app(settings))
    data = await login(client, email="root@example.com", password=PASSWORD)
    assert data["user"]["id"] == user_id
    assert set(data["user"]["roles"]) == {"reader", "admin"}
    assert data["user"]["nickname"] == "Root"


async def test_createadmin_on_a_fresh_data_folder_migrates_it_first(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh"  # no `migrate` ran, as for someone who only ran `serve` later
    env = embedded_env(data_dir, SHARESTACK_ADMIN_PASSWORD=PASSWORD)
    code, out, err = await run("createadmin", "--email", "root@example.com", env=env)
    assert code == 0, out + err
    assert out.strip() == "admin user 1 (root@example.com) created"
    assert rows(data_dir / "sharestack.db", "SELECT id FROM users") == [(1,)]


async def test_createadmin_promotes_an_existing_account_keeping_its_password(
    data_dir: Path,
) -> None:
    env = embedded_env(data_dir)
    first = await run("createadmin", "--email", "a@example.com", "--password", PASSWORD, env=env)
    assert first[0] == 0, first
    database = data_dir / "sharestack.db"
    with contextlib.closing(sqlite3.connect(database)) as conn:
        conn.execute("UPDATE users SET roles = '[\"reader\"]'")
        conn.commit()
    code, out, err = await run("createadmin", "--email", "a@example.com", env=env)
    assert code == 0, out + err
    first_id = re.fullmatch(r"admin user (\d+) \(a@example\.com\) created", first[1].strip())
    assert first_id, first[1]
    assert out.strip() == (
        f"admin user {first_id.group(1)} (a@example.com) promoted; its password is unchanged"
    )
    assert orjson.loads(rows(database, "SELECT roles FROM users")[0][0]) == ["reader", "admin"]
    assert len(rows(database, "SELECT id FROM admin_logs")) == 2


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--email", "new@example.com"], "password"),
        (["--email", "nope", "--password", PASSWORD], "email"),
        (["--email", "x@example.com", "--password", "short"], "password"),
        (
            ["--email", "x@example.com", "--password", PASSWORD, "--nickname", "\u200b\u202e"],
            "nickname",
        ),
    ],
)
async def test_createadmin_refuses_bad_input(data_dir: Path, args: list[str], says: str) -> None:
    code, _out, err = await run("createadmin", *args, env=embedded_env(data_dir))
    assert code != 0
    assert says in err
    assert rows(data_dir / "sharestack.db", "SELECT id FROM users") == []


async def test_admin_action_is_logged_in_the_same_transaction(api, engine: AsyncEngine) -> None:
    data = await register(api)
    user_id = data["user"]["id"]
    db = Database(engine)
    with pytest.raises(RuntimeError):
        async with db.unit_of_work() as uow:
            await record_admin_action(
                uow.session,
                admin_id=user_id,
                action="user.banned",
                target_type="user",
                target_id=user_id,
                detail={"reason": "spam"},
                ip="10.0.0.1",
            )
            raise RuntimeError("the action failed")
    async with engine.connect() as conn:
        assert (await conn.execute(select(AdminLog))).all() == []
    async with db.unit_of_work() as uow:
        await record_admin_action(
            uow.session,
            admin_id=user_id,
            action="user.banned",
            target_type="user",
            target_id=user_id,
            detail={"reason": "spam"},
            ip="10.0.0.1",
        )
    async with engine.connect() as conn:
        (log,) = (await conn.execute(select(AdminLog))).all()
        assert await conn.scalar(select(User.id)) == user_id
    assert (log.action, log.target_type, log.target_id, log.ip) == (
        "user.banned",
        "user",
        user_id,
        "10.0.0.1",
    )
    assert log.detail == {"reason": "spam"}
    assert log.created_at.tzinfo is not None
