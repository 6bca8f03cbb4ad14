"""Sign-up and sign-in by email or phone: normalisation, masking, duplicates and bad input."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from models.identity.sessions import AuthSession
from models.identity.users import User
from server.crypto import PiiCipher
from server.identity.users.service import PHONE_CONTEXT
from server.keys import SETTINGS
from tests.helpers.auth import PASSWORD, bearer, error_code, login, register


async def test_register_by_email_answers_a_token_pair_and_the_user(api) -> None:
    data = await register(api, email="  Ann.Lee@Example.COM ", nickname="Ann")
    assert data["token_type"] == "bearer"
    assert data["expires_in"] == 900
    assert data["access_token"] and data["refresh_token"]
    user = data["user"]
    assert user["email"] == "ann.lee@example.com"
    assert user["phone"] is None
    assert user["nickname"] == "Ann"
    assert user["roles"] == ["reader"]
    assert user["avatar_url"] is None
    assert user["created_at"].endswith("Z")
    datetime.fromisoformat(user["created_at"])


async def test_register_response_user_is_the_same_object_as_get_me(api) -> None:
    data = await register(api, phone="13812345678")
    me = await api.get("/api/v1/me", headers=bearer(data["access_token"]))
    assert me.status == 200
    assert await me.json() == data["user"]


async def test_register_by_phone_stores_e164_and_answers_it_masked(
    api, engine: AsyncEngine
) -> None:
    data = await register(api, phone="138 1234 5678")
    assert data["user"]["phone"] == "+86 138****5678"
    assert data["user"]["email"] is None
    assert data["user"]["nickname"] == "user5678"
    async with engine.connect() as conn:
        row = (
            await conn.execute(select(User.phone_enc, User.phone_hash, User.password_hash))
        ).one()
    # The number is personal data: never stored in clear, but recoverable with the key.
    assert "13812345678" not in f"{row.phone_enc}{row.phone_hash}"
    pii = PiiCipher.from_settings(api.app[SETTINGS])
    assert pii.decrypt(row.phone_enc, context=PHONE_CONTEXT) == "+8613812345678"
    assert row.phone_hash == pii.lookup_hash("+8613812345678", context=PHONE_CONTEXT)
    assert row.password_hash.startswith("$argon2id$")
    assert PASSWORD not in row.password_hash


async def test_phone_with_a_country_code_and_punctuation_is_the_same_account(api) -> None:
    await register(api, phone="+86 138-1234-5678")
    await login(api, phone="13812345678")
    await login(api, phone="+8613812345678")


async def test_foreign_phone_numbers_keep_their_country(api) -> None:
    data = await register(api, phone="+1 650 253 0000")
    assert data["user"]["phone"] == "+1 650***0000"


async def test_email_without_a_nickname_gets_its_local_part(api) -> None:
    data = await register(api, email="Zhang.Wei@example.cn")
    assert data["user"]["nickname"] == "zhang.wei"


async def test_login_by_email_is_case_insensitive(api) -> None:
    await register(api, email="ann@example.com")
    data = await login(api, email="ANN@Example.com ")
    assert data["user"]["email"] == "ann@example.com"
    assert data["access_token"]


async def test_login_records_the_session_device(api, engine: AsyncEngine) -> None:
    await register(api)
    await login(api, device_name="Ann's phone", platform="ios")
    async with engine.connect() as conn:
        rows = (await conn.execute(select(AuthSession).order_by(AuthSession.id))).all()
    assert len(rows) == 2
    assert rows[1].device_name == "Ann's phone"
    assert rows[1].platform == "ios"
    assert rows[1].ip == "127.0.0.1"
    assert rows[1].revoked_at is None


async def test_duplicate_email_is_409_account_exists(api) -> None:
    await register(api, email="ann@example.com")
    data = await register(api, status=409, email="ANN@example.com", password="another password")
    assert data["error"]["code"] == "auth.account_exists"


async def test_duplicate_phone_is_409_account_exists(api) -> None:
    await register(api, phone="13812345678")
    data = await register(api, status=409, phone="+86 138 1234 5678")
    assert data["error"]["code"] == "auth.account_exists"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email", "password": PASSWORD}, "body.email"),
        ({"phone": "12345", "password": PASSWORD}, "body.phone"),
        ({"phone": "call me", "password": PASSWORD}, "body.phone"),
        ({"email": "a@example.com", "password": "short"}, "body.password"),
        ({"email": "a@example.com", "password": "x" * 129}, "body.password"),
        ({"password": PASSWORD}, "body"),
        ({"email": "a@example.com", "phone": "13812345678", "password": PASSWORD}, "body"),
        ({"email": "a@example.com", "password": PASSWORD, "nickname": ""}, "body.nickname"),
        ({"email": "a@example.com", "password": PASSWORD, "nickname": "n" * 33}, "body.nickname"),
        ({"email": "a@example.com", "password": PASSWORD, "role": "admin"}, "body.role"),
    ],
)
async def test_register_rejects_bad_input_with_422_naming_the_field(api, body, field) -> None:
    response = await api.post("/api/v1/auth/register", json=body)
    assert response.status == 422
    error = (await response.json())["error"]
    assert error["code"] == "request.validation"
    assert field in error["fields"], error


async def test_login_without_a_password_is_422(api) -> None:
    response = await api.post("/api/v1/auth/login", json={"email": "ann@example.com"})
    assert response.status == 422


async def test_unknown_account_and_wrong_password_answer_identically(api) -> None:
    await register(api)
    wrong = await api.post(
        "/api/v1/auth/login", json={"email": "ann@example.com", "password": "nope-nope"}
    )
    unknown = await api.post(
        "/api/v1/auth/login", json={"email": "bob@example.com", "password": "nope-nope"}
    )
    assert wrong.status == unknown.status == 401
    assert await wrong.json() == await unknown.json()
    assert (await wrong.json())["error"]["code"] == "auth.invalid_credentials"


async def test_unknown_account_costs_an_argon2_verification_like_a_real_one(api) -> None:
    await register(api)

    async def timed(email: str) -> float:
        start = time.perf_counter()
        await api.post("/api/v1/auth/login", json={"email": email, "password": "nope-nope"})
        return time.perf_counter() - start

    await timed("warm@example.com")  # the dummy hash is made once per process
    known = min([await timed("ann@example.com") for _ in range(3)])
    unknown = min([await timed("nobody@example.com") for _ in range(3)])
    assert unknown > known * 0.5, (known, unknown)
    assert known > unknown * 0.5, (known, unknown)


async def test_disabled_account_is_403_only_after_the_correct_password(
    api, engine: AsyncEngine
) -> None:
    await register(api)
    async with engine.begin() as conn:
        await conn.execute(update(User).values(status="banned"))
    wrong = await api.post(
        "/api/v1/auth/login", json={"email": "ann@example.com", "password": "nope-nope"}
    )
    assert wrong.status == 401
    assert await error_code(wrong) == "auth.invalid_credentials"
    right = await api.post(
        "/api/v1/auth/login", json={"email": "ann@example.com", "password": PASSWORD}
    )
    assert right.status == 403
    assert await error_code(right) == "auth.account_disabled"


async def test_disabled_account_tokens_stop_working(api, engine: AsyncEngine) -> None:
    data = await register(api)
    async with engine.begin() as conn:
        await conn.execute(update(User).values(status="deactivated"))
    await asyncio.sleep(0.25)
    response = await api.get("/api/v1/me", headers=bearer(data["access_token"]))
    assert response.status == 403
    assert await error_code(response) == "auth.account_disabled"
