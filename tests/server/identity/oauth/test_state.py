"""The state of an authorisation: single use, expiring, bound to its provider; redirect URIs."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from models.identity.oauth import OAuthState
from models.identity.users import User
from server.identity.oauth import states
from server.keys import RUNTIME
from tests.helpers.auth import error_code
from tests.helpers.oauth import REDIRECT, authorize, callback, consent
from tests.server.identity.oauth.fake_providers import Person


async def _users(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(User)) or 0)


async def _code_and_state(api, fake, provider: str = "github") -> tuple[str, str]:
    fake.consent_as(provider, Person("ann", "Ann"))
    started = await authorize(api, provider)
    return await consent(started["authorize_url"])


async def test_a_replayed_state_is_rejected_and_changes_nothing(api, fake, engine) -> None:
    code, state = await _code_and_state(api, fake)
    assert (await callback(api, "github", code, state)).status == 200
    replay = await callback(api, "github", code, state)
    assert replay.status == 400
    assert await error_code(replay) == "oauth.state_invalid"
    assert await _users(engine) == 1


async def test_an_unknown_state_is_rejected_before_the_provider_is_asked(api, fake, engine) -> None:
    code, _ = await _code_and_state(api, fake)
    response = await callback(api, "github", code, "f" * 48)
    assert response.status == 400
    assert await error_code(response) == "oauth.state_invalid"
    assert not [call for call in fake.calls if call[0] == "github"]
    assert await _users(engine) == 0


async def test_a_state_of_another_provider_is_rejected_and_stays_usable(api, fake) -> None:
    code, state = await _code_and_state(api, fake, "github")
    wrong = await callback(api, "qq", code, state)
    assert wrong.status == 400
    assert await error_code(wrong) == "oauth.state_invalid"
    assert (await callback(api, "github", code, state)).status == 200


async def test_an_expired_state_is_rejected(api, fake, engine) -> None:
    code, state = await _code_and_state(api, fake)
    clock = api.app[RUNTIME].clock
    clock.now = lambda: datetime.now(UTC) + timedelta(seconds=601)
    response = await callback(api, "github", code, state)
    assert response.status == 400
    assert await error_code(response) == "oauth.state_invalid"
    assert await _users(engine) == 0


async def test_two_callbacks_with_one_state_at_once_sign_in_once(api, fake, engine) -> None:
    code, state = await _code_and_state(api, fake)
    responses = await asyncio.gather(
        callback(api, "github", code, state), callback(api, "github", code, state)
    )
    assert sorted(r.status for r in responses) == [200, 400]
    assert await _users(engine) == 1


async def test_the_state_is_stored_only_as_a_hash(api, engine) -> None:
    started = await authorize(api, "github")
    async with engine.connect() as conn:
        row = (await conn.execute(select(OAuthState))).one()
    assert row.state_hash != started["state"]
    assert row.state_hash == states.hash_state(started["state"])
    assert row.redirect_uri == REDIRECT
    assert row.user_id is None
    assert row.code_verifier is not None  # GitHub speaks PKCE


async def test_states_without_pkce_keep_no_verifier(api, engine) -> None:
    await authorize(api, "weibo")
    async with engine.connect() as conn:
        assert await conn.scalar(select(OAuthState.code_verifier)) is None


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://evil.example/oauth/done",
        "https://app.example.evil.example/oauth/",
        "https://app.example/oauthx",
        "https://app.example/other",
        "http://app.example/oauth/done",
        "https://app.example/oauth/../admin",
        "https://app.example/oauth/done#frag",
        "https://user@app.example/oauth/done",
        "javascript:alert(1)",
        "http://localhost:5173/cbx",
        "not a url",
        "https://[::1/oauth/",
        "https://app.example/oauth/%2e%2e/admin",
        "https://app.example\\@evil.example/oauth/",
    ],
)
async def test_a_redirect_uri_off_the_allowlist_is_refused(api, engine, redirect_uri) -> None:
    response = await api.post(
        "/api/v1/auth/oauth/github/authorize", json={"redirect_uri": redirect_uri}
    )
    assert response.status == 400
    assert await error_code(response) == "oauth.redirect_uri_not_allowed"
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(OAuthState)) == 0


@pytest.mark.parametrize(
    "redirect_uri",
    ["https://app.example/oauth/done", "http://localhost:5173/cb", "http://localhost:5173/cb?x=1"],
)
async def test_allowlisted_redirect_uris_are_accepted(api, redirect_uri) -> None:
    await authorize(api, "qq", redirect_uri=redirect_uri)


@pytest.mark.parametrize(
    "body",
    [{}, {"redirect_uri": ""}, {"redirect_uri": REDIRECT, "mode": "steal"}, {"x": 1}],
)
async def test_a_malformed_authorize_request_is_422(api, body) -> None:
    response = await api.post("/api/v1/auth/oauth/github/authorize", json=body)
    assert response.status == 422


async def test_a_malformed_callback_is_422(api) -> None:
    response = await api.post("/api/v1/auth/oauth/github/callback", json={"code": "x"})
    assert response.status == 422


async def test_expired_states_are_purged(api, engine) -> None:
    await authorize(api, "github")
    runtime = api.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        assert await states.purge_expired_states(uow.session, now=runtime.clock.now()) == 0
    async with runtime.db.unit_of_work() as uow:
        later = runtime.clock.now() + timedelta(seconds=601)
        assert await states.purge_expired_states(uow.session, now=later) == 1


def test_redirect_allowlist_is_comma_separated_in_the_environment(monkeypatch) -> None:
    from server.settings import Settings

    monkeypatch.setenv("OAUTH_REDIRECT_ALLOWLIST", " https://a.example/cb , https://b.example/ ,")
    assert Settings().oauth_redirect_allowlist == ["https://a.example/cb", "https://b.example/"]
