"""`python -m server migrate | serve` as real processes, in the embedded mode."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import orjson
import pytest

from server.content.search.tokenizer import encode
from server.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 60
STOP_TIMEOUT = 30


def embedded_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The parent's environment minus every setting, plus a data folder of the test's own."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key.lower() not in Settings.model_fields and not key.startswith("COV_CORE")
    }
    env.update({"DATA_DIR": str(data_dir), "LOG_LEVEL": "INFO", "LOG_FORMAT": "json"})
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def run(*args: str, env: dict[str, str], within: float = 120) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), within)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def json_events(output: str) -> list[dict]:
    events = []
    for line in output.splitlines():
        with contextlib.suppress(orjson.JSONDecodeError):
            value = orjson.loads(line)
            if isinstance(value, dict) and "event" in value:
                events.append(value)
    return events


def databases_in(data_dir: Path) -> list[Path]:
    return sorted(data_dir.glob("*.db")) if data_dir.exists() else []


def tables_of(database: Path) -> set[str]:
    with contextlib.closing(sqlite3.connect(database)) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {name for (name,) in rows}


async def test_migrate_creates_the_sqlite_database_with_the_platform_tables(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "fresh"  # does not exist yet
    code, out, err = await run("migrate", env=embedded_env(data_dir))
    assert code == 0, out + err
    databases = databases_in(data_dir)
    assert len(databases) == 1
    assert {"outbox_messages", "idempotency_keys", "alembic_version"} <= tables_of(databases[0])


async def test_reindex_rebuilds_the_search_rows_of_published_items(tmp_path: Path) -> None:
    from tests.migrations.test_search_public_text import seed, tokens

    env = embedded_env(tmp_path)
    assert (await run("migrate", env=env))[0] == 0
    [database] = databases_in(tmp_path)
    url = f"sqlite+aiosqlite:///{database}"
    paid = await seed(url, "paid")  # indexed with its whole body, as before the fix
    code, out, err = await run("reindex", env=env)
    assert code == 0, out + err
    assert "search index rebuilt (1 batches)" in out
    after = (await tokens(url))[paid]
    assert encode("zebracorn") not in after and encode("preview") in after


async def test_migrate_twice_is_harmless(tmp_path: Path) -> None:
    env = embedded_env(tmp_path)
    assert (await run("migrate", env=env))[0] == 0
    code, out, err = await run("migrate", env=env)
    assert code == 0, out + err


@pytest.fixture
async def embedded_server(tmp_path: Path) -> AsyncIterator[dict]:
    env = embedded_env(tmp_path)
    code, out, err = await run("migrate", env=env)
    assert code == 0, out + err
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server",
        "serve",
        "--port",
        str(port),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    state = {"process": process, "port": port, "lines": []}
    try:
        yield state
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def read_until(process, lines: list[str], pattern: str, within: float) -> re.Match:
    async def scan() -> re.Match:
        while True:
            raw = await process.stdout.readline()
            if not raw:
                raise AssertionError("the server exited:\n" + "".join(lines))
            line = raw.decode()
            lines.append(line)
            if match := re.search(pattern, line):
                return match

    return await asyncio.wait_for(scan(), within)


async def get_json_when_up(url: str, within: float) -> dict:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(url) as response:
                    assert response.status == 200
                    return await response.json()
            except aiohttp.ClientConnectionError:
                if loop.time() > deadline:
                    raise
                await asyncio.sleep(0.1)


async def test_serve_prints_its_urls_answers_in_embedded_mode_and_stops_on_sigterm(
    embedded_server: dict,
) -> None:
    process, port, lines = (
        embedded_server["process"],
        embedded_server["port"],
        embedded_server["lines"],
    )
    base = f"http://127.0.0.1:{port}"
    match = await read_until(process, lines, r"(https?://\S+/api/docs)\b", STARTUP_TIMEOUT)
    banner = lines[-1]
    assert base in banner, banner
    assert match.group(1) == f"{base}/api/docs"

    meta = await get_json_when_up(f"{base}/api/v1/meta", STARTUP_TIMEOUT)
    assert meta["mode"] == "embedded"
    assert meta["name"] == "ShareStack"
    async with aiohttp.ClientSession() as session, session.get(f"{base}/readyz") as ready:
        assert ready.status == 200
        assert (await ready.json())["checks"] == {"database": "ok", "redis": "not_configured"}

    process.send_signal(signal.SIGTERM)
    out, err = await asyncio.wait_for(process.communicate(), STOP_TIMEOUT)
    assert process.returncode == 0, err.decode()
    assert "Traceback" not in err.decode()

    events = json_events("".join(lines) + out.decode())
    warnings = [e for e in events if e["event"] == "server.embedded_mode"]
    assert len(warnings) == 1, "the server says at start that embedded mode is not for production"
    assert warnings[0]["level"] == "warning"


async def test_serve_in_production_without_secrets_exits_2_naming_each_setting(
    tmp_path: Path,
) -> None:
    env = embedded_env(tmp_path, ENVIRONMENT="production", PORT=str(free_port()))
    code, out, err = await run("serve", env=env, within=60)
    assert code == 2, out + err
    refused = [e for e in json_events(out + err) if e["event"] == "settings.refused"]
    assert all(e["level"] == "error" for e in refused)
    problems = " | ".join(e["problem"] for e in refused)
    assert len(refused) == 9, problems
    for setting in (
        *("DATABASE_URL", "REDIS_URL", "JWT_PRIVATE_KEY", "PII_ENCRYPTION_KEY"),
        *("CORS_ORIGINS", "METRICS_TOKEN"),
    ):
        assert setting in problems, setting
    assert "listening" not in out.lower()
    assert not databases_in(tmp_path), "nothing was started"


async def test_serve_on_a_fresh_data_folder_migrates_its_sqlite_and_signs_up(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "fresh"  # no `migrate` ran: serve brings the schema itself
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "server", "serve", "--port", str(port)),
        cwd=ROOT,
        env=embedded_env(data_dir),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        await get_json_when_up(f"{base}/api/v1/meta", STARTUP_TIMEOUT)
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{base}/api/v1/auth/register",
                json={"email": "new@example.com", "password": "correct horse battery"},
            ) as signed_up,
        ):
            assert signed_up.status == 201, await signed_up.text()
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = await asyncio.wait_for(process.communicate(), STOP_TIMEOUT)
    assert "Traceback" not in err.decode(), err.decode()
    assert "alembic_version" in tables_of(data_dir / "sharestack.db")
