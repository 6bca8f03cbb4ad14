"""Forgot, reset and change password: a reset ends every session, a change every other one."""

from __future__ import annotations

import asyncio

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from models.identity.sessions import AuthSession
from models.identity.users import User
from server.identity.auth.schemas import RegisterIn
from server.identity.verification.schemas import PasswordChangeIn, PasswordResetIn
from tests.helpers.auth import PASSWORD, bearer, error_code, login, register
from tests.helpers.verification import code_login, send_code

ANN = "ann@example.com"
PHONE = "+8613812345678"
NEW = "a brand new passphrase"
CACHE_TTL = 0.2  # code_settings' session_cache_seconds


async def me_status(client, token: str) -> int:
    return (await client.get("/api/v1/me", headers=bearer(token))).status


async def refresh_status(client, token: str) -> int:
    response = await client.post("/api/v1/auth/refresh", json={"refresh_token": token})
    return response.status


async def forgot(client, **body) -> None:
    response = await client.post("/api/v1/auth/password/forgot", json=body)
    assert response.status == 202, await response.json()


async def reset(client, status: int = 204, **body):
    response = await client.post("/api/v1/auth/password/reset", json=body)
    assert response.status == status, await response.text()
    return response


async def test_reset_sets_the_password_and_ends_every_session(
    vapi, smtp, engine: AsyncEngine
) -> None:
    first = await register(vapi)
    second = await login(vapi)
    for tokens in (first, second):
        assert await me_status(vapi, tokens["access_token"]) == 200  # cached as live
    await forgot(vapi, email=ANN)
    await reset(vapi, email=ANN, code=smtp.code_for(ANN), new_password=NEW)

    await asyncio.sleep(CACHE_TTL + 0.05)
    for tokens in (first, second):
        assert await me_status(vapi, tokens["access_token"]) == 401
        assert await refresh_status(vapi, tokens["refresh_token"]) == 401
    await login(vapi, 401)
    await login(vapi, password=NEW)
    async with engine.connect() as conn:
        user = (await conn.execute(select(User))).one()
        sessions = (await conn.execute(select(AuthSession).order_by(AuthSession.id))).all()
    assert user.password_changed_at is not None
    assert user.email_verified_at is not None, "the reset code proved the address"
    assert [s.revoke_reason for s in sessions] == ["password_reset", "password_reset", None]


async def test_a_revoked_session_stops_at_once_on_the_instance_that_reset(vapi, smtp) -> None:
    tokens = await register(vapi)
    assert await me_status(vapi, tokens["access_token"]) == 200
    await forgot(vapi, email=ANN)
    await reset(vapi, email=ANN, code=smtp.code_for(ANN), new_password=NEW)
    assert await me_status(vapi, tokens["access_token"]) == 401


async def test_reset_by_phone_through_an_sms_code(vapi, sms_gateway) -> None:
    await register(vapi, phone=PHONE)
    await forgot(vapi, phone="13812345678")
    await reset(vapi, phone=PHONE, code=sms_gateway.code_for(PHONE), new_password=NEW)
    await login(vapi, phone=PHONE, password=NEW)


async def test_a_wrong_reset_code_changes_nothing(vapi, smtp, engine) -> None:
    tokens = await register(vapi)
    await forgot(vapi, email=ANN)
    code = smtp.code_for(ANN)
    response = await reset(
        vapi, 400, email=ANN, code=f"{(int(code) + 1) % 10**6:06d}", new_password=NEW
    )
    assert await error_code(response) == "verification.code_invalid"
    await asyncio.sleep(CACHE_TTL + 0.05)
    assert await me_status(vapi, tokens["access_token"]) == 200
    await login(vapi)
    async with engine.connect() as conn:
        assert (await conn.scalar(select(User.password_changed_at))) is None


async def test_a_reset_code_works_once(vapi, smtp) -> None:
    await register(vapi)
    await forgot(vapi, email=ANN)
    code = smtp.code_for(ANN)
    await reset(vapi, email=ANN, code=code, new_password=NEW)
    await reset(vapi, 400, email=ANN, code=code, new_password="yet another passphrase")
    await login(vapi, password=NEW)


async def test_a_reset_code_for_an_erased_account_is_invalid(vapi, smtp, engine) -> None:
    await register(vapi)
    await forgot(vapi, email=ANN)
    async with engine.begin() as conn:
        await conn.execute(User.__table__.update().values(email=None))
    await reset(vapi, 400, email=ANN, code=smtp.code_for(ANN), new_password=NEW)


async def test_a_login_code_cannot_reset_a_password(vapi, smtp) -> None:
    await register(vapi)
    await send_code(vapi, email=ANN, purpose="login")
    await reset(vapi, 400, email=ANN, code=smtp.code_for(ANN), new_password=NEW)


async def test_a_too_short_new_password_is_refused_before_the_code_is_spent(vapi, smtp) -> None:
    await register(vapi)
    await forgot(vapi, email=ANN)
    code = smtp.code_for(ANN)
    response = await reset(vapi, 422, email=ANN, code=code, new_password="short")
    assert "new_password" in str((await response.json())["error"]["fields"])
    await reset(vapi, email=ANN, code=code, new_password=NEW)


def test_new_passwords_follow_the_registration_rules() -> None:
    rule = RegisterIn.model_json_schema()["properties"]["password"]
    for model in (PasswordResetIn, PasswordChangeIn):
        schema = model.model_json_schema()["properties"]["new_password"]
        assert (schema["minLength"], schema["maxLength"]) == (rule["minLength"], rule["maxLength"])


async def change(client, token: str, status: int = 204, **body):
    response = await client.post("/api/v1/me/password", json=body, headers=bearer(token))
    assert response.status == status, await response.text()
    return response


async def test_changing_the_password_keeps_this_session_and_ends_the_others(vapi, engine) -> None:
    here = await register(vapi)
    elsewhere = await login(vapi)
    assert await me_status(vapi, elsewhere["access_token"]) == 200
    await change(vapi, here["access_token"], current_password=PASSWORD, new_password=NEW)
    await asyncio.sleep(CACHE_TTL + 0.05)
    assert await me_status(vapi, here["access_token"]) == 200
    assert await refresh_status(vapi, here["refresh_token"]) == 200
    assert await me_status(vapi, elsewhere["access_token"]) == 401
    assert await refresh_status(vapi, elsewhere["refresh_token"]) == 401
    await login(vapi, 401)
    await login(vapi, password=NEW)
    async with engine.connect() as conn:
        assert (await conn.scalar(select(User.password_changed_at))) is not None


async def test_changing_the_password_needs_the_current_one(vapi) -> None:
    tokens = await register(vapi)
    missing = await change(vapi, tokens["access_token"], 422, new_password=NEW)
    assert "current_password" in (await missing.json())["error"]["fields"]
    wrong = await change(
        vapi, tokens["access_token"], 403, current_password="not it at all", new_password=NEW
    )
    assert await error_code(wrong) == "verification.wrong_password"
    await login(vapi)


async def test_guessing_the_current_password_is_throttled(vapi) -> None:
    tokens = await register(vapi)
    for _ in range(5):
        await change(vapi, tokens["access_token"], 403, current_password="guess", new_password=NEW)
    throttled = await change(
        vapi, tokens["access_token"], 429, current_password=PASSWORD, new_password=NEW
    )
    assert int(throttled.headers["Retry-After"]) >= 1


async def test_a_code_only_account_sets_its_first_password_without_a_current_one(
    vapi, smtp
) -> None:
    await send_code(vapi, email=ANN, purpose="login")
    tokens = await code_login(vapi, email=ANN, code=smtp.code_for(ANN))
    await login(vapi, 401)
    await change(vapi, tokens["access_token"], new_password=NEW)
    await login(vapi, password=NEW)


async def test_changing_the_password_needs_a_signed_in_user(vapi) -> None:
    response = await vapi.post("/api/v1/me/password", json={"new_password": NEW})
    assert response.status == 401
