"""Sending codes: throttles per address and per IP, no account oracle, failures, secrecy."""

from __future__ import annotations

import logging

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from structlog.testing import capture_logs

from models.identity.verification import VerificationCode
from tests.helpers.auth import error_code, register
from tests.helpers.verification import code_login, send_code

ANN = "ann@example.com"
PHONE = "+8613812345678"


async def post_code(client, ip: str = "10.2.0.1", **body):
    return await client.post("/api/v1/auth/codes", json=body, headers={"X-Forwarded-For": ip})


async def test_a_second_send_to_one_address_within_a_minute_is_throttled(
    make_client, code_settings, smtp
) -> None:
    client = await make_client(code_settings(verification_sends_per_target="1/minute;10/day"))
    first = await send_code(client, email=ANN, purpose="login", ip="10.2.1.1")
    assert 55 <= first["resend_after"] <= 60
    again = await post_code(client, ip="10.2.1.2", email=ANN, purpose="reset_password")
    assert again.status == 429
    assert await error_code(again) == "rate_limited"
    assert 1 <= int(again.headers["Retry-After"]) <= 60
    assert len(smtp.mails) == 1, "a refused send sends nothing"
    await send_code(client, email="bob@example.com", purpose="login", ip="10.2.1.2")


async def test_an_address_gets_at_most_the_daily_number_of_codes(
    make_client, code_settings, smtp
) -> None:
    client = await make_client(code_settings(verification_sends_per_target="100/minute;3/day"))
    for n in range(3):
        sent = await send_code(client, email=ANN, purpose="login", ip=f"10.2.2.{n}")
    assert sent["resend_after"] > 23 * 3600
    refused = await post_code(client, ip="10.2.2.9", email=ANN, purpose="login")
    assert refused.status == 429
    assert int(refused.headers["Retry-After"]) > 23 * 3600


async def test_one_ip_sending_to_many_addresses_is_throttled(
    make_client, code_settings, sms_gateway
) -> None:
    client = await make_client(code_settings(verification_sends_per_ip="3/hour"))
    for n in range(3):
        await send_code(client, phone=f"+861381234567{n}", purpose="login", ip="10.2.3.1")
    refused = await post_code(client, ip="10.2.3.1", phone="+8613812345679", purpose="login")
    assert refused.status == 429
    assert len(sms_gateway.texts) == 3
    await send_code(client, phone="+8613812345679", purpose="login", ip="10.2.3.2")


async def test_an_unknown_address_is_throttled_like_a_known_one(
    make_client, code_settings, smtp
) -> None:
    client = await make_client(code_settings(verification_sends_per_target="1/minute"))
    await register(client)
    for email in (ANN, "ghost@example.com"):
        await send_code(client, email=email, purpose="reset_password", ip="10.2.4.1")
        refused = await post_code(client, ip="10.2.4.2", email=email, purpose="reset_password")
        assert refused.status == 429


async def test_without_redis_sending_fails_closed(make_client, code_settings, smtp) -> None:
    client = await make_client(code_settings(redis_url="redis://127.0.0.1:1/0"))
    response = await post_code(client, email=ANN, purpose="login")
    assert response.status == 503
    assert smtp.mails == []


async def test_forgot_password_answers_alike_for_unknown_and_known_addresses(
    vapi, smtp, engine: AsyncEngine
) -> None:
    await register(vapi)
    known = await vapi.post("/api/v1/auth/password/forgot", json={"email": ANN})
    unknown = await vapi.post("/api/v1/auth/password/forgot", json={"email": "gone@example.com"})
    assert known.status == unknown.status == 202
    known_body, unknown_body = await known.json(), await unknown.json()
    assert set(known_body) == set(unknown_body) == {"sent_to", "expires_in", "resend_after"}
    assert known_body["expires_in"] == unknown_body["expires_in"]
    assert known_body["resend_after"] == unknown_body["resend_after"]
    assert unknown_body["sent_to"] == "g***@example.com"
    # Both addresses get a mail; only the account's has a code, and only it has a code row.
    assert smtp.code_for(ANN)
    (notice,) = smtp.to("gone@example.com")
    assert "no account uses it" in notice.text
    async with engine.connect() as conn:
        rows = (await conn.execute(select(VerificationCode))).all()
    assert [row.purpose for row in rows] == ["reset_password"]


async def test_a_login_code_goes_to_unknown_addresses_too(vapi, smtp) -> None:
    await register(vapi)
    known = await send_code(vapi, email=ANN, purpose="login")
    unknown = await send_code(vapi, email="new@example.com", purpose="login")
    assert known.keys() == unknown.keys()
    assert smtp.code_for(ANN) and smtp.code_for("new@example.com")


async def test_a_failed_sms_send_answers_503_and_kills_the_code(vapi, sms_gateway, engine) -> None:
    sms_gateway.answer = 502
    response = await post_code(vapi, phone=PHONE, purpose="login")
    assert response.status == 503
    assert await error_code(response) == "verification.send_failed"
    async with engine.connect() as conn:
        row = (await conn.execute(select(VerificationCode))).one()
    assert row.used_at is not None, "an undelivered code is dead"


async def test_an_unreachable_mail_relay_answers_503(make_client, code_settings, engine) -> None:
    client = await make_client(code_settings(smtp_port=1, smtp_timeout_seconds=2))
    response = await post_code(client, email=ANN, purpose="login")
    assert response.status == 503
    assert await error_code(response) == "verification.send_failed"
    async with engine.connect() as conn:
        row = (await conn.execute(select(VerificationCode))).one()
    assert row.used_at is not None


async def test_a_failed_no_account_notice_answers_503_too(make_client, code_settings) -> None:
    client = await make_client(code_settings(smtp_port=1, smtp_timeout_seconds=2))
    response = await client.post(
        "/api/v1/auth/password/forgot", json={"email": "ghost@example.com"}
    )
    assert response.status == 503


async def test_an_unsigned_gateway_request_is_refused_by_the_gateway(
    make_client, code_settings, sms_gateway
) -> None:
    client = await make_client(code_settings(sms_api_secret="another-secret"))
    response = await post_code(client, phone=PHONE, purpose="login")
    assert response.status == 503
    assert sms_gateway.refused == 1 and sms_gateway.texts == []


async def test_the_code_never_reaches_the_database_or_the_logs(
    make_client, code_settings, smtp, sms_gateway, engine, caplog
) -> None:
    client = await make_client(code_settings(log_level="INFO"))
    caplog.set_level(logging.DEBUG)
    with capture_logs() as logs:
        await send_code(client, email=ANN, purpose="login")
        await send_code(client, phone=PHONE, purpose="login")
        codes = [smtp.code_for(ANN), sms_gateway.code_for(PHONE)]
        await code_login(client, 400, email=ANN, code=f"{(int(codes[0]) + 1) % 10**6:06d}")
        await code_login(client, email=ANN, code=codes[0])
        await send_code(client, email=ANN, purpose="reset_password")
        codes.append(smtp.code_for(ANN))
    assert any(entry["event"] == "http.request" for entry in logs), "logs were captured"
    async with engine.connect() as conn:
        stored = []
        for table in ("verification_codes", "outbox_messages"):
            stored += [
                repr(tuple(row)) for row in await conn.execute(text(f"SELECT * FROM {table}"))
            ]
    assert len(stored) >= 3
    ours = [r.getMessage() for r in caplog.records if not r.name.startswith("mail.log")]
    for code in codes:
        assert not any(code in row for row in stored), "a code is stored in clear"
        assert code not in repr(logs), "a code is in the structured logs"
        assert not any(code in message for message in ours), "a code is in the stdlib logs"


async def test_bad_code_requests_are_validation_errors(vapi, smtp) -> None:
    for body in (
        {"email": ANN},
        {"email": ANN, "purpose": "register"},
        {"email": ANN, "purpose": "anything"},
        {"purpose": "login"},
        {"purpose": "reset_password"},
        {"email": ANN, "phone": PHONE, "purpose": "login"},
        {"email": ANN, "purpose": "verify_phone"},
        {"phone": PHONE, "purpose": "verify_email"},
        {"phone": "12", "purpose": "login"},
        {"email": ANN, "purpose": "login", "extra": 1},
    ):
        response = await post_code(vapi, **body)
        assert response.status == 422, body
    for body in ({}, {"email": ANN, "phone": PHONE}, {"email": "nope"}):
        response = await vapi.post("/api/v1/auth/password/forgot", json=body)
        assert response.status == 422, body
    assert smtp.mails == []
