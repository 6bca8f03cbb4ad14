"""Personal data never reaches the logs: a whole account journey at DEBUG, every event grepped."""

from __future__ import annotations

import logging

from sqlalchemy import update
from structlog.testing import capture_logs

from models.identity.users import User
from server.logs import redact
from tests.helpers.auth import PASSWORD, bearer
from tests.helpers.env import make_settings

PHONE_DIGITS = "13812345678"
EMAIL = "ann.private@example.com"


async def test_phone_and_email_stay_out_of_the_logs(
    caplog, make_client, database_url, engine
) -> None:
    caplog.set_level(logging.DEBUG)
    api = await make_client(make_settings(database_url=database_url, log_level="DEBUG"))
    with capture_logs() as events:
        await journey(api, engine)
    # What the JSON renderer would write: every event after the redaction processor; and every
    # standard-library record but aiohttp's own access log, which the server turns off
    # (`python -m server serve` runs with access_log=None) and the test server keeps.
    records = [r.getMessage() for r in caplog.records if r.name != "aiohttp.access"]
    logged = repr([redact(None, "debug", dict(event)) for event in events]) + repr(records)
    assert "http.request" in logged, "the journey was logged"
    for secret in (PHONE_DIGITS, EMAIL, "ann.private", PASSWORD):
        assert secret not in logged, secret


async def journey(api, engine) -> None:
    """Sign up by phone and email, fail and succeed at signing in, ask for codes, change the
    profile, and have an admin find the phone account by its number."""

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
