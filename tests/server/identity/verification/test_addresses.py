"""Verifying the account's own email or phone, and binding a new one, with a code."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from models.identity.users import User
from tests.helpers.auth import bearer, error_code, login, register
from tests.helpers.verification import send_code

ANN = "ann@example.com"
PHONE = "+8613812345678"


async def verify(client, kind: str, token: str, status: int = 200, **body):
    response = await client.post(f"/api/v1/me/{kind}/verify", json=body, headers=bearer(token))
    data = await response.json()
    assert response.status == status, data
    return data


async def test_verifying_the_accounts_own_email(vapi, smtp, engine: AsyncEngine) -> None:
    tokens = await register(vapi)
    sent = await send_code(vapi, purpose="verify_email", token=tokens["access_token"])
    assert sent["sent_to"] == "a***@example.com"
    user = await verify(vapi, "email", tokens["access_token"], code=smtp.code_for(ANN))
    assert user["email"] == ANN
    async with engine.connect() as conn:
        assert (await conn.scalar(select(User.email_verified_at))) is not None


async def test_binding_a_new_email(vapi, smtp, engine) -> None:
    tokens = await register(vapi)
    new = "ann.new@example.com"
    await send_code(vapi, email=new, purpose="verify_email", token=tokens["access_token"])
    user = await verify(vapi, "email", tokens["access_token"], code=smtp.code_for(new), email=new)
    assert user["email"] == new
    await login(vapi, email=new)
    await login(vapi, 401)


async def test_binding_an_email_another_account_uses_is_a_conflict(vapi, smtp, engine) -> None:
    await register(vapi, email="bob@example.com")
    tokens = await register(vapi)
    await send_code(
        vapi, email="bob@example.com", purpose="verify_email", token=tokens["access_token"]
    )
    taken = await verify(
        vapi,
        "email",
        tokens["access_token"],
        409,
        code=smtp.code_for("bob@example.com"),
        email="bob@example.com",
    )
    assert taken["error"]["code"] == "verification.address_taken"
    async with engine.connect() as conn:
        emails = sorted((await conn.execute(select(User.email))).scalars())
    assert emails == [ANN, "bob@example.com"]


async def test_a_verify_code_asked_by_one_user_is_useless_to_another(vapi, smtp) -> None:
    ann = await register(vapi)
    bob = await register(vapi, email="bob@example.com")
    target = "shared@example.com"
    await send_code(vapi, email=target, purpose="verify_email", token=ann["access_token"])
    stolen = await verify(
        vapi, "email", bob["access_token"], 400, code=smtp.code_for(target), email=target
    )
    assert stolen["error"]["code"] == "verification.code_invalid"
    await verify(vapi, "email", ann["access_token"], code=smtp.code_for(target), email=target)


async def test_binding_and_verifying_a_phone_by_sms(vapi, sms_gateway, engine) -> None:
    tokens = await register(vapi)
    await send_code(vapi, phone="13812345678", purpose="verify_phone", token=tokens["access_token"])
    user = await verify(
        vapi, "phone", tokens["access_token"], code=sms_gateway.code_for(PHONE), phone=PHONE
    )
    assert user["phone"] == "+86 138****5678"
    async with engine.connect() as conn:
        row = (await conn.execute(select(User.phone_enc, User.phone_verified_at))).one()
    assert row.phone_verified_at is not None
    assert PHONE not in row.phone_enc, "the phone number is stored encrypted"
    await login(vapi, phone=PHONE)

    # Later, the bound phone is verified again without naming it.
    await send_code(vapi, purpose="verify_phone", token=tokens["access_token"])
    await verify(vapi, "phone", tokens["access_token"], code=sms_gateway.code_for(PHONE))


async def test_a_phone_another_account_uses_cannot_be_bound(vapi, sms_gateway) -> None:
    await register(vapi, phone=PHONE)
    tokens = await register(vapi)
    await send_code(vapi, phone=PHONE, purpose="verify_phone", token=tokens["access_token"])
    await verify(
        vapi, "phone", tokens["access_token"], 409, code=sms_gateway.code_for(PHONE), phone=PHONE
    )


async def test_an_account_without_a_phone_must_name_one(vapi, sms_gateway) -> None:
    tokens = await register(vapi)
    refused = await send_code(vapi, 400, purpose="verify_phone", token=tokens["access_token"])
    assert refused["error"]["code"] == "verification.no_address"
    await verify(vapi, "phone", tokens["access_token"], 400, code="123456")
    assert sms_gateway.texts == []


async def test_verify_codes_need_a_signed_in_user(vapi, smtp) -> None:
    response = await vapi.post("/api/v1/auth/codes", json={"email": ANN, "purpose": "verify_email"})
    assert response.status == 401
    assert await error_code(response) == "auth.unauthorized"
    response = await vapi.post("/api/v1/me/email/verify", json={"code": "123456"})
    assert response.status == 401
    assert smtp.mails == []


async def test_a_login_code_does_not_verify_an_address(vapi, smtp) -> None:
    tokens = await register(vapi)
    await send_code(vapi, email=ANN, purpose="login")
    await verify(vapi, "email", tokens["access_token"], 400, code=smtp.code_for(ANN))


async def test_bad_verify_requests_are_validation_errors(vapi) -> None:
    tokens = await register(vapi)
    for kind, body in (
        ("email", {}),
        ("email", {"code": "1234"}),
        ("email", {"code": "123456", "email": "nope"}),
        ("phone", {"code": "123456", "phone": "12"}),
        ("phone", {"code": "123456", "email": ANN}),
    ):
        await verify(vapi, kind, tokens["access_token"], 422, **body)


async def test_an_account_without_an_email_must_name_one(vapi, smtp) -> None:
    tokens = await register(vapi, phone=PHONE)
    refused = await send_code(vapi, 400, purpose="verify_email", token=tokens["access_token"])
    assert refused["error"]["code"] == "verification.no_address"
    assert smtp.mails == []
