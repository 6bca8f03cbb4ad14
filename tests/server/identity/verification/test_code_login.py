"""Sign-in by a code sent by email or SMS; the first one for a new address creates the account."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from models.identity.users import User
from models.identity.verification import VerificationCode
from server.identity.verification.codes import Target
from server.keys import RUNTIME
from server.settings import Settings
from tests.helpers.auth import bearer, error_code, login, register
from tests.helpers.verification import code_login, send_code

ANN = "ann@example.com"
PHONE = "+8613812345678"


async def test_first_email_code_sign_in_creates_a_verified_account_without_password(
    vapi, smtp, engine: AsyncEngine
) -> None:
    sent = await send_code(vapi, email="Ann@Example.com", purpose="login")
    assert sent == {"sent_to": "a***@example.com", "expires_in": 600, "resend_after": 0}
    (mail,) = smtp.to(ANN)
    assert mail.message["To"] == ANN
    assert "sign in" in mail.text

    signed_in = await code_login(
        vapi, email=ANN, code=smtp.code_for(ANN), device_name="Ann's phone", platform="ios"
    )
    assert set(signed_in) == {"access_token", "refresh_token", "token_type", "expires_in", "user"}
    assert signed_in["user"]["email"] == ANN
    me = await vapi.get("/api/v1/me", headers=bearer(signed_in["access_token"]))
    assert me.status == 200
    async with engine.connect() as conn:
        user = (await conn.execute(select(User))).one()
    assert user.password_hash is None
    assert user.email_verified_at is not None


async def test_an_email_code_signs_in_the_existing_account(vapi, smtp, engine) -> None:
    account = await register(vapi)
    await send_code(vapi, email=ANN, purpose="login")
    signed_in = await code_login(vapi, email=ANN, code=smtp.code_for(ANN))
    assert signed_in["user"]["id"] == account["user"]["id"]
    async with engine.connect() as conn:
        users = (await conn.execute(select(User))).all()
    assert len(users) == 1
    assert users[0].email_verified_at is not None
    assert users[0].password_hash is not None, "a code sign-in keeps the password"


async def test_an_sms_code_signs_in_by_phone_through_the_signed_gateway(
    vapi, sms_gateway, smtp
) -> None:
    sent = await send_code(vapi, phone="138 1234 5678", purpose="login")
    assert sent["sent_to"] == "+86 138****5678"
    (text,) = sms_gateway.to(PHONE)
    assert "sign in" in text["text"]
    assert sms_gateway.refused == 0
    assert smtp.mails == []

    signed_in = await code_login(vapi, phone="13812345678", code=sms_gateway.code_for(PHONE))
    assert signed_in["user"]["phone"] == "+86 138****5678"
    again = await send_code(vapi, phone=PHONE, purpose="login")
    assert again["sent_to"] == sent["sent_to"]
    second = await code_login(vapi, phone=PHONE, code=sms_gateway.code_for(PHONE))
    assert second["user"]["id"] == signed_in["user"]["id"]


async def test_a_used_code_is_rejected(vapi, smtp) -> None:
    await send_code(vapi, email=ANN, purpose="login")
    code = smtp.code_for(ANN)
    await code_login(vapi, email=ANN, code=code)
    reused = await vapi.post("/api/v1/auth/login/code", json={"email": ANN, "code": code})
    assert reused.status == 400
    assert await error_code(reused) == "verification.code_invalid"


async def test_an_expired_code_is_rejected(vapi, smtp) -> None:
    await send_code(vapi, email=ANN, purpose="login")
    clock = vapi.app[RUNTIME].clock
    clock.now = lambda: datetime.now(UTC) + timedelta(seconds=601)  # type: ignore[method-assign]
    late = await vapi.post(
        "/api/v1/auth/login/code", json={"email": ANN, "code": smtp.code_for(ANN)}
    )
    assert late.status == 400
    assert await error_code(late) == "verification.code_invalid"


async def test_a_short_configured_lifetime_is_honoured(make_client, code_settings, smtp) -> None:
    client = await make_client(code_settings(verification_code_seconds=60))
    assert (await send_code(client, email=ANN, purpose="login"))["expires_in"] == 60
    assert "1 minutes" in smtp.to(ANN)[0].text
    clock = client.app[RUNTIME].clock
    clock.now = lambda: datetime.now(UTC) + timedelta(seconds=61)  # type: ignore[method-assign]
    await code_login(client, 400, email=ANN, code=smtp.code_for(ANN))


async def test_a_new_code_supersedes_the_unused_older_one(vapi, smtp) -> None:
    await send_code(vapi, email=ANN, purpose="login")
    first = smtp.code_for(ANN)
    await send_code(vapi, email=ANN, purpose="login")
    second = smtp.code_for(ANN)
    if first != second:
        await code_login(vapi, 400, email=ANN, code=first)
    await code_login(vapi, email=ANN, code=second)


async def test_unknown_and_wrong_codes_answer_alike(vapi, smtp) -> None:
    never_sent = await vapi.post(
        "/api/v1/auth/login/code", json={"email": "ghost@example.com", "code": "123456"}
    )
    await send_code(vapi, email=ANN, purpose="login")
    wrong = "000000" if smtp.code_for(ANN) != "000000" else "000001"
    wrong_answer = await vapi.post("/api/v1/auth/login/code", json={"email": ANN, "code": wrong})
    assert never_sent.status == wrong_answer.status == 400
    assert await never_sent.json() == await wrong_answer.json()


async def test_a_code_dies_after_the_allowed_wrong_attempts(vapi, smtp, engine) -> None:
    await send_code(vapi, email=ANN, purpose="login")
    code = smtp.code_for(ANN)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(5):
        await code_login(vapi, 400, email=ANN, code=wrong)
    dead = await code_login(vapi, 400, email=ANN, code=code)
    assert dead["error"]["code"] == "verification.code_invalid"
    async with engine.connect() as conn:
        row = (await conn.execute(select(VerificationCode))).one()
    assert row.attempts == 5
    assert row.used_at is not None


async def test_fewer_wrong_attempts_than_the_limit_leave_the_code_usable(vapi, smtp) -> None:
    await send_code(vapi, email=ANN, purpose="login")
    code = smtp.code_for(ANN)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(4):
        await code_login(vapi, 400, email=ANN, code=wrong)
    await code_login(vapi, email=ANN, code=code)


async def test_a_code_is_good_only_for_its_purpose(vapi, smtp) -> None:
    await register(vapi)
    await send_code(vapi, email=ANN, purpose="reset_password")
    await code_login(vapi, 400, email=ANN, code=smtp.code_for(ANN))


async def test_a_code_is_good_only_for_its_address(vapi, smtp) -> None:
    await send_code(vapi, email=ANN, purpose="login")
    await code_login(vapi, 400, email="bob@example.com", code=smtp.code_for(ANN))


async def test_a_banned_account_cannot_sign_in_by_code(vapi, smtp, engine) -> None:
    account = await register(vapi)
    async with engine.begin() as conn:
        await conn.execute(
            update(User).where(User.id == account["user"]["id"]).values(status="banned")
        )
    await send_code(vapi, email=ANN, purpose="login")
    refused = await code_login(vapi, 403, email=ANN, code=smtp.code_for(ANN))
    assert refused["error"]["code"] == "auth.account_disabled"
    await login(vapi, 403)


async def test_bad_code_login_requests_are_validation_errors(vapi) -> None:
    for body in (
        {"email": ANN, "code": "12345"},
        {"email": ANN, "code": "abcdef"},
        {"email": ANN, "phone": PHONE, "code": "123456"},
        {"code": "123456"},
        {"email": "not-an-email", "code": "123456"},
        {"email": ANN, "code": "123456", "password": "x"},
    ):
        response = await vapi.post("/api/v1/auth/login/code", json=body)
        assert response.status == 422, body
        assert await error_code(response) == "request.validation"


async def test_two_sign_ins_with_one_code_at_once_open_one_session(vapi, smtp, engine) -> None:
    await send_code(vapi, email=ANN, purpose="login")
    body = {"email": ANN, "code": smtp.code_for(ANN)}
    responses = await asyncio.gather(
        *(vapi.post("/api/v1/auth/login/code", json=body) for _ in range(4))
    )
    assert sorted(r.status for r in responses) == [200, 400, 400, 400]
    async with engine.connect() as conn:
        assert len((await conn.execute(select(User))).all()) == 1


def test_a_target_needs_an_address() -> None:
    with pytest.raises(ValueError):
        Target.of(email=None, phone=None)
    assert Target.of(email=None, phone=PHONE).masked == "+86 138****5678"
    assert Target.of(email="x@example.com", phone=None).masked == "x***@example.com"


def test_malformed_send_rates_are_refused_at_start_up() -> None:
    with pytest.raises(ValueError):
        Settings(verification_sends_per_target="often")
