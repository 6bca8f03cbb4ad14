"""What the provider says no to, or cannot say: 400 for rejected codes, 503 when unreachable."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from models.identity.users import User
from tests.helpers.auth import error_code
from tests.helpers.env import make_settings
from tests.helpers.oauth import (
    REDIRECT_PROVIDERS,
    authorize,
    callback,
    consent,
    mini_login,
    provider_settings,
    sign_in_with,
)
from tests.server.identity.oauth.fake_providers import Person


async def _users(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(User)) or 0)


async def _start(api, fake, provider: str) -> tuple[str, str]:
    fake.consent_as(provider, Person("ann", "Ann"))
    started = await authorize(api, provider)
    return await consent(started["authorize_url"])


@pytest.mark.parametrize("provider", REDIRECT_PROVIDERS)
async def test_a_code_the_provider_rejects_is_400_and_creates_nothing(
    api, fake, engine, provider: str
) -> None:
    _, state = await _start(api, fake, provider)
    response = await callback(api, provider, "forged-code", state)
    assert response.status == 400
    assert await error_code(response) == "oauth.code_invalid"
    assert await _users(engine) == 0


@pytest.mark.parametrize("provider", REDIRECT_PROVIDERS)
async def test_a_code_used_once_already_is_rejected(api, fake, provider: str) -> None:
    code, state = await _start(api, fake, provider)
    assert (await callback(api, provider, code, state)).status == 200
    # A fresh state with the spent code: the provider refuses the code.
    started = await authorize(api, provider)
    response = await callback(api, provider, code, started["state"])
    assert response.status == 400
    assert await error_code(response) == "oauth.code_invalid"


async def test_the_state_is_spent_even_when_the_provider_rejects_the_code(api, fake) -> None:
    code, state = await _start(api, fake, "github")
    assert (await callback(api, "github", "forged", state)).status == 400
    retry = await callback(api, "github", code, state)
    assert retry.status == 400
    assert await error_code(retry) == "oauth.state_invalid"


@pytest.mark.parametrize("provider", [*REDIRECT_PROVIDERS, "wechat_mini"])
async def test_a_failing_provider_is_503(api, fake, engine, provider: str) -> None:
    fake.broken.add(provider)
    if provider == "wechat_mini":
        data = await mini_login(api, fake.mini_program_code(Person("ann", "Ann")), status=503)
        assert data["error"]["code"] == "oauth.provider_unavailable"
        return
    code, state = await _start(api, fake, provider)
    response = await callback(api, provider, code, state)
    assert response.status == 503
    assert await error_code(response) == "oauth.provider_unavailable"
    assert await _users(engine) == 0


@pytest.fixture
async def unreachable(make_client, database_url, fake):
    """The app with every provider API at a port where nothing listens."""
    values = provider_settings(fake.base_url)
    for name in list(values):
        if name.endswith("_api_url"):
            values[name] = "http://127.0.0.1:9/nothing"
    return await make_client(make_settings(database_url=database_url, **values))


@pytest.mark.parametrize("provider", REDIRECT_PROVIDERS)
async def test_a_provider_that_is_down_is_503(unreachable, fake, provider: str) -> None:
    # GitHub's token endpoint lives on the web host; take its API down by the web host too.
    if provider == "github":
        fake.broken.add("github")
    code, state = await _start(unreachable, fake, provider)
    response = await callback(unreachable, provider, code, state)
    assert response.status == 503
    assert await error_code(response) == "oauth.provider_unavailable"


async def test_mini_program_login_with_the_provider_down_is_503(unreachable, fake) -> None:
    data = await mini_login(unreachable, "any", status=503)
    assert data["error"]["code"] == "oauth.provider_unavailable"


async def test_a_provider_slower_than_the_timeout_is_503(make_client, database_url, fake) -> None:
    client = await make_client(
        make_settings(
            database_url=database_url,
            oauth_http_timeout_seconds=0.2,
            **provider_settings(fake.base_url),
        )
    )
    code, state = await _start(client, fake, "weibo")
    fake.delay = 1.0
    response = await callback(client, "weibo", code, state)
    assert response.status == 503
    assert await error_code(response) == "oauth.provider_unavailable"


@pytest.mark.parametrize(
    ("provider", "setting"),
    [
        ("github", "oauth_github_client_secret"),
        ("wechat", "oauth_wechat_app_secret"),
        ("qq", "oauth_qq_app_key"),
        ("weibo", "oauth_weibo_app_secret"),
        ("wechat_mini", "oauth_wechat_mini_app_secret"),
    ],
)
async def test_a_wrong_client_secret_is_our_fault_so_503(
    make_client, database_url, fake, provider: str, setting: str
) -> None:
    values = {**provider_settings(fake.base_url), setting: "wrong-secret"}
    client = await make_client(make_settings(database_url=database_url, **values))
    if provider == "wechat_mini":
        data = await mini_login(client, fake.mini_program_code(Person("ann", "Ann")), status=503)
        assert data["error"]["code"] == "oauth.provider_unavailable"
        return
    code, state = await _start(client, fake, provider)
    response = await callback(client, provider, code, state)
    assert response.status == 503


async def _ban(engine: AsyncEngine, user_id: int) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            User.__table__.update().where(User.id == user_id).values(status="banned")
        )


async def test_a_banned_account_cannot_sign_in_with_a_provider(api, fake, engine) -> None:
    ann = Person("ann", "Ann")
    first = await sign_in_with(api, fake, "github", ann)
    await _ban(engine, first["user"]["id"])
    refused = await sign_in_with(api, fake, "github", ann, status=403)
    assert refused["error"]["code"] == "auth.account_disabled"


async def test_a_banned_account_stays_out_through_the_mini_program_and_its_unionid(
    api, fake, engine
) -> None:
    bob = Person("bob", "Bob")
    first = await mini_login(api, fake.mini_program_code(bob))
    await _ban(engine, first["user"]["id"])
    refused = await mini_login(api, fake.mini_program_code(bob), status=403)
    assert refused["error"]["code"] == "auth.account_disabled"
    # The website app finds the same (banned) account through the unionid.
    website = await sign_in_with(api, fake, "wechat", bob, status=403)
    assert website["error"]["code"] == "auth.account_disabled"
    assert await _users(engine) == 1
