"""Two-factor authentication: TOTP setup, the two-step sign-in, recovery codes, replay, limits."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, urlparse

import pyotp
import pytest
from sqlalchemy import select

from models.identity.auth import LoginChallenge, RecoveryCode, TotpSecret
from models.identity.sessions import AuthSession
from models.identity.users import User
from server.identity.auth.responses import signed_in_response
from server.identity.auth.schemas import TwoFactorChallenge
from tests.helpers.auth import PASSWORD, bearer, error_code, login, register
from tests.helpers.env import make_settings
from tests.helpers.twofactor import FrozenClock, enable_two_factor, freeze, totp_code, verify


@pytest.fixture(autouse=True)
def clock(api) -> FrozenClock:
    return freeze(api)


async def status(api, token: str) -> dict:
    response = await api.get("/api/v1/me/2fa", headers=bearer(token))
    assert response.status == 200
    return await response.json()


async def test_setup_answers_a_secret_an_otpauth_uri_and_an_svg_qr_code(api, engine) -> None:
    account = await register(api)
    response = await api.post("/api/v1/me/2fa/totp/setup", headers=bearer(account["access_token"]))
    assert response.status == 200
    body = await response.json()
    uri = urlparse(body["otpauth_uri"])
    assert uri.scheme == "otpauth" and uri.netloc == "totp"
    assert parse_qs(uri.query)["secret"] == [body["secret"]]
    assert parse_qs(uri.query)["issuer"] == ["ShareStack"]
    assert "ann%40example.com" in uri.path
    assert ET.fromstring(body["qr_svg"]).tag.endswith("svg")
    # Not enabled until a first code proves the authenticator has it; stored encrypted.
    assert await status(api, account["access_token"]) == {
        "enabled": False,
        "recovery_codes_left": 0,
    }
    async with engine.connect() as conn:
        stored = (await conn.execute(select(TotpSecret))).one()
    assert body["secret"] not in stored.secret_enc and stored.enabled_at is None


async def test_a_second_setup_replaces_the_pending_secret(api, clock) -> None:
    token = (await register(api))["access_token"]
    first = await (await api.post("/api/v1/me/2fa/totp/setup", headers=bearer(token))).json()
    second = await (await api.post("/api/v1/me/2fa/totp/setup", headers=bearer(token))).json()
    assert first["secret"] != second["secret"]
    stale = await api.post(
        "/api/v1/me/2fa/totp/enable",
        json={"code": totp_code(first["secret"], clock)},
        headers=bearer(token),
    )
    assert stale.status == 403
    assert await error_code(stale) == "auth.two_factor_invalid"


async def test_the_full_flow_setup_enable_login_challenge_verify(api, clock, engine) -> None:
    token = (await register(api))["access_token"]
    secret, codes = await enable_two_factor(api, token, clock)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert await status(api, token) == {"enabled": True, "recovery_codes_left": 10}
    async with engine.connect() as conn:
        hashes = (await conn.execute(select(RecoveryCode.code_hash))).scalars().all()
        sessions_before = len((await conn.execute(select(AuthSession.id))).all())
    assert not {code.replace("-", "") for code in codes} & set(hashes)

    challenge = await login(api, 202)
    assert challenge["two_factor_required"] is True
    assert challenge["methods"] == ["totp", "recovery_code"]
    assert challenge["expires_in"] == 300
    assert "access_token" not in challenge
    async with engine.connect() as conn:
        # No session is opened before the second factor passes.
        assert len((await conn.execute(select(AuthSession.id))).all()) == sessions_before

    clock.move(30)
    response = await verify(api, challenge["challenge"], totp_code(secret, clock))
    assert response.status == 200
    signed_in = await response.json()
    assert signed_in["user"]["email"] == "ann@example.com"
    me = await api.get("/api/v1/me", headers=bearer(signed_in["access_token"]))
    assert me.status == 200
    # The challenge is spent.
    clock.move(30)
    again = await verify(api, challenge["challenge"], totp_code(secret, clock))
    assert again.status == 401
    assert await error_code(again) == "auth.challenge_invalid"


async def test_the_session_keeps_the_device_of_the_first_step(api, clock, engine) -> None:
    token = (await register(api))["access_token"]
    secret, _ = await enable_two_factor(api, token, clock)
    challenge = await login(api, 202, device_name="Ann's phone", platform="ios")
    clock.move(30)
    response = await verify(api, challenge["challenge"], totp_code(secret, clock))
    assert response.status == 200
    async with engine.connect() as conn:
        newest = (
            await conn.execute(select(AuthSession).order_by(AuthSession.id.desc()).limit(1))
        ).one()
    assert (newest.device_name, newest.platform) == ("Ann's phone", "ios")


async def test_a_code_is_never_accepted_twice(api, clock) -> None:
    token = (await register(api))["access_token"]
    secret, _ = await enable_two_factor(api, token, clock)
    # The code that enabled two-factor cannot sign in (same step).
    challenge = (await login(api, 202))["challenge"]
    replay = await verify(api, challenge, totp_code(secret, clock))
    assert replay.status == 401
    assert await error_code(replay) == "auth.two_factor_invalid"
    # The next step's code works once; then neither it nor an earlier step's does.
    ok = await verify(api, challenge, totp_code(secret, clock, steps=1))
    assert ok.status == 200
    challenge = (await login(api, 202))["challenge"]
    for steps in (1, 0, -1):
        response = await verify(api, challenge, totp_code(secret, clock, steps=steps))
        assert response.status == 401, steps


async def test_codes_outside_the_window_of_one_step_are_refused(api, clock) -> None:
    token = (await register(api))["access_token"]
    secret, _ = await enable_two_factor(api, token, clock)
    challenge = (await login(api, 202))["challenge"]
    assert (await verify(api, challenge, totp_code(secret, clock, steps=2))).status == 401
    clock.move(90)
    assert (await verify(api, challenge, totp_code(secret, clock, steps=-2))).status == 401
    assert (await verify(api, challenge, totp_code(secret, clock, steps=-1))).status == 200


async def test_a_recovery_code_signs_in_once(api, clock) -> None:
    token = (await register(api))["access_token"]
    _, codes = await enable_two_factor(api, token, clock)
    challenge = (await login(api, 202))["challenge"]
    # Case and spacing do not matter.
    response = await verify(api, challenge, f" {codes[0].upper()} ")
    assert response.status == 200
    signed_in = await response.json()
    assert await status(api, signed_in["access_token"]) == {
        "enabled": True,
        "recovery_codes_left": 9,
    }
    challenge = (await login(api, 202))["challenge"]
    reused = await verify(api, challenge, codes[0])
    assert reused.status == 401
    assert await error_code(reused) == "auth.two_factor_invalid"
    assert (await verify(api, challenge, codes[1])).status == 200


async def test_a_wrong_code_counts_and_five_wrong_codes_kill_the_challenge(
    api, clock, engine
) -> None:
    token = (await register(api))["access_token"]
    secret, _ = await enable_two_factor(api, token, clock)
    challenge = (await login(api, 202))["challenge"]
    wrong = "000000" if totp_code(secret, clock, 1) != "000000" else "111111"
    for _ in range(5):
        response = await verify(api, challenge, wrong)
        assert response.status == 401
        assert await error_code(response) == "auth.two_factor_invalid"
    async with engine.connect() as conn:
        assert await conn.scalar(select(LoginChallenge.attempts)) == 5
    dead = await verify(api, challenge, totp_code(secret, clock, 1))
    assert dead.status == 401
    assert await error_code(dead) == "auth.challenge_invalid"
    # A new sign-in gets a new challenge.
    fresh = (await login(api, 202))["challenge"]
    assert (await verify(api, fresh, totp_code(secret, clock, 1))).status == 200


async def test_an_expired_challenge_is_refused(api, clock) -> None:
    token = (await register(api))["access_token"]
    secret, _ = await enable_two_factor(api, token, clock)
    challenge = (await login(api, 202))["challenge"]
    clock.move(301)
    response = await verify(api, challenge, totp_code(secret, clock))
    assert response.status == 401
    assert await error_code(response) == "auth.challenge_invalid"


async def test_an_unknown_challenge_and_bad_bodies_are_refused(api) -> None:
    unknown = await verify(api, "no-such-challenge", "123456")
    assert unknown.status == 401
    assert await error_code(unknown) == "auth.challenge_invalid"
    for body in ({"challenge": "x"}, {"challenge": "x", "code": "12"}, {"code": "123456"}):
        response = await api.post("/api/v1/auth/2fa/verify", json=body)
        assert response.status == 422, body


async def test_wrong_codes_are_throttled_per_account_across_challenges(
    make_client, database_url
) -> None:
    api = await make_client(make_settings(database_url=database_url, two_factor_throttle="3/hour"))
    clock = freeze(api)
    token = (await register(api))["access_token"]
    secret, _ = await enable_two_factor(api, token, clock)
    wrong = "000000" if totp_code(secret, clock, 1) != "000000" else "111111"
    for _ in range(3):
        challenge = (await login(api, 202))["challenge"]
        assert (await verify(api, challenge, wrong)).status == 401
    challenge = (await login(api, 202))["challenge"]
    limited = await verify(api, challenge, totp_code(secret, clock, 1))
    assert limited.status == 429
    assert limited.headers["Retry-After"]
    # The settings endpoints share the same budget.
    disable = await api.post("/api/v1/me/2fa/disable", json={"code": wrong}, headers=bearer(token))
    assert disable.status == 429


async def test_enable_needs_a_pending_secret_and_a_right_code(api, clock) -> None:
    token = (await register(api))["access_token"]
    early = await api.post(
        "/api/v1/me/2fa/totp/enable", json={"code": "123456"}, headers=bearer(token)
    )
    assert early.status == 409
    assert await error_code(early) == "auth.two_factor_not_set_up"
    setup = await (await api.post("/api/v1/me/2fa/totp/setup", headers=bearer(token))).json()
    for code in (
        "000000" if totp_code(setup["secret"], clock) != "000000" else "111111",
        "abcdefgh",
    ):
        wrong = await api.post(
            "/api/v1/me/2fa/totp/enable", json={"code": code}, headers=bearer(token)
        )
        assert wrong.status == 403
        assert await error_code(wrong) == "auth.two_factor_invalid"
    assert (await status(api, token))["enabled"] is False
    assert (await login(api)).get("access_token")


@pytest.mark.parametrize("code", ["١٢٣٤٥٦", "²²²²²²", "１２３４５６"])
async def test_digits_of_other_scripts_are_a_wrong_code_not_an_error(api, clock, code) -> None:
    token = (await register(api))["access_token"]
    assert (await api.post("/api/v1/me/2fa/totp/setup", headers=bearer(token))).status == 200
    wrong = await api.post("/api/v1/me/2fa/totp/enable", json={"code": code}, headers=bearer(token))
    assert wrong.status == 403
    assert await error_code(wrong) == "auth.two_factor_invalid"
    await enable_two_factor(api, token, clock)
    off = await api.post("/api/v1/me/2fa/disable", json={"code": code}, headers=bearer(token))
    assert off.status == 403
    assert (await status(api, token))["enabled"] is True


async def test_setup_and_enable_are_refused_once_enabled(api, clock) -> None:
    token = (await register(api))["access_token"]
    secret, _ = await enable_two_factor(api, token, clock)
    setup = await api.post("/api/v1/me/2fa/totp/setup", headers=bearer(token))
    assert setup.status == 409
    assert await error_code(setup) == "auth.two_factor_enabled"
    enable = await api.post(
        "/api/v1/me/2fa/totp/enable",
        json={"code": totp_code(secret, clock, 1)},
        headers=bearer(token),
    )
    assert enable.status == 409


async def test_disable_with_a_totp_code_turns_sign_in_back_to_one_step(api, clock, engine) -> None:
    token = (await register(api))["access_token"]
    secret, _ = await enable_two_factor(api, token, clock)
    wrong = await api.post(
        "/api/v1/me/2fa/disable", json={"code": "abcde-fghij"}, headers=bearer(token)
    )
    assert wrong.status == 403
    assert (await status(api, token))["enabled"] is True
    response = await api.post(
        "/api/v1/me/2fa/disable",
        json={"code": totp_code(secret, clock, 1)},
        headers=bearer(token),
    )
    assert response.status == 204
    assert await status(api, token) == {"enabled": False, "recovery_codes_left": 0}
    async with engine.connect() as conn:
        assert (await conn.execute(select(RecoveryCode.id))).first() is None
        assert (await conn.execute(select(TotpSecret.user_id))).first() is None
    assert (await login(api))["access_token"]
    again = await api.post("/api/v1/me/2fa/disable", json={"code": "123456"}, headers=bearer(token))
    assert again.status == 409
    assert await error_code(again) == "auth.two_factor_not_enabled"


async def test_disable_with_a_recovery_code(api, clock) -> None:
    token = (await register(api))["access_token"]
    _, codes = await enable_two_factor(api, token, clock)
    response = await api.post(
        "/api/v1/me/2fa/disable", json={"code": codes[3]}, headers=bearer(token)
    )
    assert response.status == 204


async def test_regenerated_recovery_codes_replace_the_old_ones(api, clock) -> None:
    token = (await register(api))["access_token"]
    secret, old = await enable_two_factor(api, token, clock)
    response = await api.post(
        "/api/v1/me/2fa/recovery_codes",
        json={"code": totp_code(secret, clock, 1)},
        headers=bearer(token),
    )
    assert response.status == 200
    new = (await response.json())["recovery_codes"]
    assert len(new) == 10 and not set(new) & set(old)
    challenge = (await login(api, 202))["challenge"]
    assert (await verify(api, challenge, old[0])).status == 401
    assert (await verify(api, challenge, new[0])).status == 200
    not_on = await api.post(
        "/api/v1/me/2fa/recovery_codes",
        json={"code": "123456"},
        headers=bearer((await register(api, email="bob@example.com"))["access_token"]),
    )
    assert not_on.status == 409


async def test_a_banned_account_is_refused_before_any_challenge(api, clock, engine) -> None:
    token = (await register(api))["access_token"]
    secret, _ = await enable_two_factor(api, token, clock)
    challenge = (await login(api, 202))["challenge"]
    async with engine.begin() as conn:
        await conn.execute(User.__table__.update().values(status="banned"))
    # Banned between the two steps: the second step is refused too.
    late = await verify(api, challenge, totp_code(secret, clock, 1))
    assert late.status == 403
    assert await error_code(late) == "auth.account_disabled"
    response = await api.post(
        "/api/v1/auth/login", json={"email": "ann@example.com", "password": PASSWORD}
    )
    assert response.status == 403
    assert await error_code(response) == "auth.account_disabled"


async def test_the_challenge_is_stored_only_as_a_hash(api, clock, engine) -> None:
    token = (await register(api))["access_token"]
    await enable_two_factor(api, token, clock)
    challenge = (await login(api, 202))["challenge"]
    async with engine.connect() as conn:
        stored = (await conn.execute(select(LoginChallenge))).one()
    assert stored.token_hash != challenge and challenge not in stored.token_hash
    assert stored.client["platform"] is None


async def test_two_concurrent_verifications_of_one_challenge_open_one_session(
    api, clock, engine
) -> None:
    token = (await register(api))["access_token"]
    _secret, codes = await enable_two_factor(api, token, clock)
    challenge = (await login(api, 202))["challenge"]
    first, second = await asyncio.gather(
        verify(api, challenge, codes[0]), verify(api, challenge, codes[1])
    )
    assert sorted([first.status, second.status]) == [200, 401]


def test_signed_in_response_renders_a_challenge_as_202() -> None:
    response = signed_in_response(TwoFactorChallenge(challenge="abc", expires_in=300), status=201)
    assert response.status == 202
    assert response.content_type == "application/json"


def test_pyotp_agrees_with_the_code_the_tests_compute() -> None:
    secret = pyotp.random_base32()
    clock = FrozenClock()
    assert pyotp.TOTP(secret).verify(totp_code(secret, clock), for_time=clock.now())


async def test_the_openapi_document_declares_the_two_step_sign_in(api) -> None:
    document = await (await api.get("/api/openapi.json")).json()
    login_op = document["paths"]["/api/v1/auth/login"]["post"]
    assert "202" in login_op["description"]
    assert "TwoFactorChallenge" in document["components"]["schemas"]
    assert "/api/v1/auth/2fa/verify" in document["paths"]


async def test_a_deactivated_account_reopens_only_once_the_second_factor_passes(
    api, clock, engine
) -> None:
    token = (await register(api))["access_token"]
    secret, _ = await enable_two_factor(api, token, clock)
    async with engine.begin() as conn:
        await conn.execute(
            User.__table__.update().values(status="deactivated", deactivated_at=clock.now())
        )
    challenge = (await login(api, 202))["challenge"]
    async with engine.connect() as conn:
        assert await conn.scalar(select(User.status)) == "deactivated"
    response = await verify(api, challenge, totp_code(secret, clock, 1))
    assert response.status == 200
    async with engine.connect() as conn:
        assert await conn.scalar(select(User.status)) == "active"


async def test_turning_two_factor_off_between_the_steps_fails_the_second(api, clock) -> None:
    token = (await register(api))["access_token"]
    secret, codes = await enable_two_factor(api, token, clock)
    challenge = (await login(api, 202))["challenge"]
    off = await api.post("/api/v1/me/2fa/disable", json={"code": codes[0]}, headers=bearer(token))
    assert off.status == 204
    response = await verify(api, challenge, totp_code(secret, clock, 1))
    assert response.status == 401
    assert await error_code(response) == "auth.two_factor_invalid"


async def test_challenges_expired_over_a_day_ago_are_purged(api, clock, engine) -> None:
    from datetime import timedelta

    from server.identity.auth import challenges
    from server.keys import RUNTIME

    token = (await register(api))["access_token"]
    await enable_two_factor(api, token, clock)
    await login(api, 202)
    clock.move(3600)
    await login(api, 202)
    async with api.app[RUNTIME].db.unit_of_work() as uow:
        assert await challenges.purge_expired(uow.session, now=clock.now()) == 0
        later = clock.now() + timedelta(days=1)
        assert await challenges.purge_expired(uow.session, now=later) == 1
    async with engine.connect() as conn:
        assert len((await conn.execute(select(LoginChallenge.id))).all()) == 1
