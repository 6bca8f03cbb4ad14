"""Personal data never reaches the logs: a whole account journey at DEBUG, output grepped."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import structlog
from sqlalchemy import update

from models.identity import User
from server.logs import configure_logging
from tests.conftest import make_settings
from tests.server.auth.conftest import PASSWORD, bearer

PHONE_DIGITS = "13812345678"
EMAIL = "ann.private@example.com"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.reset_defaults()
    structlog.configure(**saved)
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


async def test_phone_and_email_stay_out_of_the_logs(
    restore_logging, capfd, make_client, database_url, engine
) -> None:
    configure_logging("DEBUG", "json")
    api = await make_client(make_settings(database_url=database_url, log_level="DEBUG"))

    async def post(path: str, body: dict, headers: dict | None = None) -> dict:
        response = await api.post(path, json=body, headers=headers or {})
        return await response.json()

    by_phone = await post("/api/v1/auth/register", {"phone": PHONE_DIGITS, "password": PASSWORD})
    by_email = await post("/api/v1/auth/register", {"email": EMAIL, "password": PASSWORD})
    await post("/api/v1/auth/login", {"phone": "+86" + PHONE_DIGITS, "password": "wrong pass"})
    await post("/api/v1/auth/login", {"email": EMAIL, "password": PASSWORD})
    await post("/api/v1/auth/password/forgot", {"email": EMAIL})
    await post("/api/v1/auth/codes", {"phone": PHONE_DIGITS, "purpose": "login"})
    await api.patch(
        "/api/v1/me/profile", json={"bio": "hi"}, headers=bearer(by_email["access_token"])
    )
    async with engine.begin() as conn:
        await conn.execute(
            update(User).where(User.id == by_email["user"]["id"]).values(roles=["reader", "admin"])
        )
    admin = await post("/api/v1/auth/login", {"email": EMAIL, "password": PASSWORD})
    found = await api.get(
        f"/api/v1/admin/users?q={PHONE_DIGITS}", headers=bearer(admin["access_token"])
    )
    assert found.status == 200
    assert [u["id"] for u in (await found.json())["items"]] == [by_phone["user"]["id"]]

    out, err = capfd.readouterr()
    logged = out + err
    assert "http.request" in logged, "the journey was logged"
    for secret in (PHONE_DIGITS, EMAIL, "ann.private", PASSWORD):
        assert secret not in logged, secret
