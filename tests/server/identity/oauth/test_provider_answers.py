"""Providers answering something unexpected: never a 500, never a sign-in on doubtful data."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from models.identity.auth import TotpSecret
from models.identity.users import User
from server.keys import RUNTIME
from tests.helpers.auth import error_code
from tests.helpers.oauth import authorize, callback, consent, mini_login, sign_in_with
from tests.server.identity.oauth.fake_providers import QQ, Person

ODD_ANSWERS: list[tuple[str, str, int, Any, int, str]] = [
    # provider, path, status, body, expected status, expected code
    (
        "github",
        "/github/login/oauth/access_token",
        200,
        "<html>oops</html>",
        503,
        "provider_unavailable",
    ),
    ("github", "/github/login/oauth/access_token", 200, [], 503, "provider_unavailable"),
    (
        "github",
        "/github/login/oauth/access_token",
        200,
        {"token_type": "bearer"},
        503,
        "provider_unavailable",
    ),
    ("github", "/github/login/oauth/access_token", 404, {"message": "?"}, 400, "code_invalid"),
    (
        "github",
        "/github-api/user",
        401,
        {"message": "Bad credentials"},
        503,
        "provider_unavailable",
    ),
    ("github", "/github-api/user", 200, {"login": "no-id"}, 503, "provider_unavailable"),
    (
        "wechat",
        "/wechat-api/sns/oauth2/access_token",
        200,
        {"errcode": 45011},
        503,
        "provider_unavailable",
    ),
    ("wechat", "/wechat-api/sns/oauth2/access_token", 200, {"errcode": 40163}, 400, "code_invalid"),
    (
        "wechat",
        "/wechat-api/sns/userinfo",
        200,
        {"openid": "someone-else"},
        503,
        "provider_unavailable",
    ),
    ("qq", "/qq-api/oauth2.0/token", 200, {"error": 100048}, 503, "provider_unavailable"),
    ("qq", "/qq-api/oauth2.0/me", 200, {"client_id": "999", "openid": "X"}, 400, "code_invalid"),
    (
        "qq",
        "/qq-api/user/get_user_info",
        200,
        {"ret": 1002, "msg": "请先登录"},
        503,
        "provider_unavailable",
    ),
    (
        "weibo",
        "/weibo-api/oauth2/access_token",
        400,
        {"error_code": 21322},
        503,
        "provider_unavailable",
    ),
    (
        "weibo",
        "/weibo-api/2/users/show.json",
        200,
        {"id": 1, "screen_name": "x"},
        503,
        "provider_unavailable",
    ),
]


@pytest.mark.parametrize(("provider", "path", "status", "body", "expected", "code"), ODD_ANSWERS)
async def test_an_unexpected_provider_answer_fails_cleanly(
    api, fake, engine, provider, path, status, body, expected, code
) -> None:
    fake.consent_as(provider, Person("ann", "Ann"))
    started = await authorize(api, provider)
    oauth_code, state = await consent(started["authorize_url"])
    fake.odd_answers[path] = (status, body if isinstance(body, str) else json.dumps(body))
    response = await callback(api, provider, oauth_code, state)
    assert response.status == expected, await response.text()
    assert await error_code(response) == f"oauth.{code}"
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(User)) == 0


async def test_github_without_the_email_scope_signs_in_without_an_email(api, fake) -> None:
    fake.odd_answers["/github-api/user/emails"] = (403, json.dumps({"message": "Forbidden"}))
    data = await sign_in_with(api, fake, "github", Person("ann", "Ann", email="ann@example.com"))
    assert data["user"]["email"] is None


async def test_a_mini_program_answer_without_an_openid_is_503(api, fake) -> None:
    fake.odd_answers["/wechat-api/sns/jscode2session"] = (200, json.dumps({"session_key": "k"}))
    data = await mini_login(api, "code", status=503)
    assert data["error"]["code"] == "oauth.provider_unavailable"


async def test_qq_app_ids_are_compared_as_text(api, fake) -> None:
    # QQ's /me answers client_id as a string; a number that reads the same is the same app.
    assert QQ["app_id"].isdigit()
    data = await sign_in_with(api, fake, "qq", Person("ann", "Ann"))
    assert data["user"]["nickname"] == "Ann"


async def test_an_account_with_two_factor_gets_a_challenge_not_a_session(api, fake) -> None:
    ann = Person("ann", "Ann")
    first = await sign_in_with(api, fake, "wechat", ann)
    runtime = api.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        uow.session.add(
            TotpSecret(
                user_id=first["user"]["id"], secret_enc="v1:x", enabled_at=runtime.clock.now()
            )
        )
    challenged = await sign_in_with(api, fake, "wechat", ann, status=202)
    assert challenged["two_factor_required"] is True
    assert "access_token" not in challenged
    mini = await mini_login(api, fake.mini_program_code(ann), status=202)
    assert mini["two_factor_required"] is True


async def test_two_first_sign_ins_of_one_person_at_once_make_one_account(api, fake, engine) -> None:
    import asyncio

    ann = Person("ann", "Ann")
    fake.consent_as("weibo", ann)
    flows = []
    for _ in range(2):
        started = await authorize(api, "weibo")
        flows.append(await consent(started["authorize_url"]))
    responses = await asyncio.gather(*(callback(api, "weibo", c, s) for c, s in flows))
    bodies = [await r.json() for r in responses]
    assert [r.status for r in responses] == [200, 200], bodies
    assert bodies[0]["user"]["id"] == bodies[1]["user"]["id"]
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(User)) == 1


async def test_a_malformed_github_email_is_not_taken(api, fake) -> None:
    emails = [{"email": "not-an-email", "primary": True, "verified": True, "visibility": None}]
    fake.odd_answers["/github-api/user/emails"] = (200, json.dumps(emails))
    data = await sign_in_with(api, fake, "github", Person("ann", "Ann"))
    assert data["user"]["email"] is None
