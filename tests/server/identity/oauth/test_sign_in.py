"""Signing in with each provider: the first time creates an account, later times find it."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from models.identity.oauth import OAuthAccount
from models.identity.users import User
from server.identity.auth.service import Client
from server.identity.auth.tokens import TokenService
from server.identity.oauth import service
from server.identity.oauth.providers import ProviderIdentity
from tests.helpers.auth import bearer, error_code
from tests.helpers.oauth import (
    PROVIDERS_URL,
    REDIRECT,
    REDIRECT_PROVIDERS,
    authorize,
    mini_login,
    sign_in_with,
)
from tests.server.identity.oauth.fake_providers import Person


def now() -> datetime:
    return datetime.now(UTC)


@pytest.mark.parametrize("provider", REDIRECT_PROVIDERS)
async def test_first_sign_in_creates_an_account_named_after_the_provider_profile(
    api, fake, engine: AsyncEngine, provider: str
) -> None:
    ann = Person("ann", "Ann Lee")
    data = await sign_in_with(api, fake, provider, ann)
    assert data["token_type"] == "bearer"
    assert data["user"]["nickname"] == "Ann Lee"
    me = await api.get("/api/v1/me", headers=bearer(data["access_token"]))
    assert (await me.json())["id"] == data["user"]["id"]
    async with engine.connect() as conn:
        user = (await conn.execute(select(User).where(User.id == data["user"]["id"]))).one()
        link = (await conn.execute(select(OAuthAccount))).one()
    assert user.password_hash is None
    assert link.provider == provider
    assert link.display_name == "Ann Lee"
    assert "token" not in str(link.profile)


@pytest.mark.parametrize("provider", REDIRECT_PROVIDERS)
async def test_second_sign_in_finds_the_same_account(api, fake, provider: str) -> None:
    ann = Person("ann", "Ann")
    first = await sign_in_with(api, fake, provider, ann)
    second = await sign_in_with(api, fake, provider, ann)
    assert second["user"]["id"] == first["user"]["id"]
    assert second["refresh_token"] != first["refresh_token"]
    other = await sign_in_with(api, fake, provider, Person("bob", "Bob"))
    assert other["user"]["id"] != first["user"]["id"]


async def test_github_verified_primary_email_becomes_the_accounts_verified_email(
    api, fake, engine: AsyncEngine
) -> None:
    data = await sign_in_with(api, fake, "github", Person("ann", "Ann", email="Ann@Example.com"))
    assert data["user"]["email"] == "ann@example.com"
    async with engine.connect() as conn:
        verified = await conn.scalar(select(User.email_verified_at))
    assert verified is not None


async def test_an_unverified_github_email_is_not_taken(api, fake) -> None:
    person = Person("ann", "Ann", email="ann@example.com", email_verified=False)
    data = await sign_in_with(api, fake, "github", person)
    assert data["user"]["email"] is None


async def test_an_email_another_account_has_is_not_taken_and_that_account_is_untouched(
    api, fake, engine: AsyncEngine
) -> None:
    from tests.helpers.auth import register

    owner = await register(api, email="ann@example.com")
    data = await sign_in_with(api, fake, "github", Person("ann", "Ann", email="ann@example.com"))
    assert data["user"]["email"] is None
    assert data["user"]["id"] != owner["user"]["id"]
    async with engine.connect() as conn:
        links = await conn.scalar(
            select(func.count())
            .select_from(OAuthAccount)
            .where(OAuthAccount.user_id == owner["user"]["id"])
        )
    assert links == 0


async def test_a_long_provider_name_is_trimmed_to_a_valid_nickname(api, fake) -> None:
    data = await sign_in_with(api, fake, "weibo", Person("ann", "  " + "长" * 40 + "  "))
    assert data["user"]["nickname"] == "长" * 32


async def test_a_provider_without_a_name_gives_a_generated_nickname(api, fake) -> None:
    data = await sign_in_with(api, fake, "github", Person("ann", ""))
    # GitHub falls back to the login; the login is the person's key here.
    assert data["user"]["nickname"] == "ann"


async def test_a_provider_name_loses_its_invisible_and_control_characters(api, fake) -> None:
    data = await sign_in_with(api, fake, "weibo", Person("ann", "\u202eAnn\u200b Lee\x00"))
    assert data["user"]["nickname"] == "Ann Lee"


@pytest.mark.parametrize("name", ["\u200b\u202e", "\u3164", "d\u043euble your bitcoin"])
async def test_a_provider_name_invisible_or_flagged_gives_a_generated_nickname(
    api, fake, name: str
) -> None:
    data = await sign_in_with(api, fake, "weibo", Person("ann", name))
    assert data["user"]["nickname"].startswith("weibo_")


async def test_a_new_account_gets_the_welcome_notification_job_once(recorded) -> None:
    runtime, recorder = recorded
    tokens = TokenService.from_settings(runtime.settings)
    identity = ProviderIdentity(provider="qq", provider_user_id="OPENID1", display_name="Ann")
    user_ids = []
    for _ in range(2):
        async with runtime.db.unit_of_work() as uow:
            result = await service.sign_in(
                uow, identity=identity, tokens=tokens, pii=runtime.pii, client=Client(), now=now()
            )
            user_ids.append(result.user.id)  # type: ignore[union-attr]
    assert user_ids[0] == user_ids[1]
    welcomes = [job for job in recorder.jobs if job.task == "notifications.welcome"]
    assert len(welcomes) == 1
    assert welcomes[0].kwargs == {"user_id": user_ids[0]}


async def test_github_authorize_url_carries_pkce_s256_and_the_scope(api) -> None:
    started = await authorize(api, "github")
    url = urlsplit(started["authorize_url"])
    query = dict(parse_qsl(url.query))
    assert url.path.endswith("/login/oauth/authorize")
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43
    assert query["redirect_uri"] == REDIRECT
    assert query["state"] == started["state"]
    assert query["scope"] == "read:user user:email"
    assert started["expires_in"] == 600


async def test_wechat_authorize_url_is_the_qr_page_in_wechats_parameter_order(api) -> None:
    started = await authorize(api, "wechat")
    url = urlsplit(started["authorize_url"])
    assert url.path.endswith("/connect/qrconnect")
    assert url.fragment == "wechat_redirect"
    names = [name for name, _ in parse_qsl(url.query)]
    assert names == ["appid", "redirect_uri", "response_type", "scope", "state"]
    assert dict(parse_qsl(url.query))["scope"] == "snsapi_login"
    assert started["state"].isalnum()


async def test_the_enabled_providers_are_listed(api) -> None:
    response = await api.get(PROVIDERS_URL)
    body = await response.json()
    assert response.status == 200
    assert [item["provider"] for item in body["items"]] == [
        "github",
        "wechat",
        "wechat_mini",
        "qq",
        "weibo",
    ]
    assert {item["flow"] for item in body["items"] if item["provider"] == "wechat_mini"} == {
        "mini_program"
    }
    assert body["next_cursor"] is None


async def test_providers_without_credentials_are_not_enabled(make_client, database_url) -> None:
    from tests.helpers.env import make_settings

    client = await make_client(make_settings(database_url=database_url))
    assert (await (await client.get(PROVIDERS_URL)).json())["items"] == []
    for provider in ("github", "wechat", "qq", "weibo"):
        response = await client.post(
            f"/api/v1/auth/oauth/{provider}/authorize", json={"redirect_uri": REDIRECT}
        )
        assert response.status == 404
        assert await error_code(response) == "oauth.provider_disabled"
    response = await client.post("/api/v1/auth/oauth/wechat_mini/login", json={"code": "x"})
    assert response.status == 404
    assert await error_code(response) == "oauth.provider_disabled"


@pytest.mark.parametrize("provider", ["facebook", "wechat_mini"])
async def test_unknown_providers_and_the_mini_program_have_no_redirect_flow(
    api, provider: str
) -> None:
    response = await api.post(
        f"/api/v1/auth/oauth/{provider}/authorize", json={"redirect_uri": REDIRECT}
    )
    assert response.status == 404
    assert await error_code(response) == "oauth.provider_disabled"
    response = await api.post(
        f"/api/v1/auth/oauth/{provider}/callback", json={"code": "c", "state": "s"}
    )
    assert response.status == 404


async def test_mini_program_login_creates_then_finds_the_account(
    api, fake, engine: AsyncEngine
) -> None:
    ann = Person("ann", "Ann")
    first = await mini_login(api, fake.mini_program_code(ann), platform="miniprogram")
    second = await mini_login(api, fake.mini_program_code(ann))
    assert first["user"]["id"] == second["user"]["id"]
    assert first["user"]["nickname"].startswith("wechat_mini_")
    assert "session_key" not in str(first)
    async with engine.connect() as conn:
        link = (await conn.execute(select(OAuthAccount))).one()
    assert link.provider == "wechat_mini"
    assert link.union_id == "union-ann"
    assert "session_key" not in str(link.profile)


async def test_website_and_mini_program_are_one_account_through_the_unionid(
    api, fake, engine: AsyncEngine
) -> None:
    ann = Person("ann", "Ann")
    website = await sign_in_with(api, fake, "wechat", ann)
    mini = await mini_login(api, fake.mini_program_code(ann))
    assert mini["user"]["id"] == website["user"]["id"]
    # And the other way round for someone who starts in the mini-program.
    bob = Person("bob", "Bob")
    bob_mini = await mini_login(api, fake.mini_program_code(bob))
    bob_web = await sign_in_with(api, fake, "wechat", bob)
    assert bob_web["user"]["id"] == bob_mini["user"]["id"]
    async with engine.connect() as conn:
        links = (await conn.execute(select(OAuthAccount.user_id, OAuthAccount.provider))).all()
    assert len(links) == 4
    assert len({row.user_id for row in links}) == 2


async def test_without_a_unionid_website_and_mini_program_stay_separate(api, fake) -> None:
    cat = Person("cat", "Cat", wechat_unionid=False)
    website = await sign_in_with(api, fake, "wechat", cat)
    mini = await mini_login(api, fake.mini_program_code(cat))
    assert mini["user"]["id"] != website["user"]["id"]


async def test_a_rejected_mini_program_code_is_400(api, fake) -> None:
    data = await mini_login(api, "not-a-code", status=400)
    assert data["error"]["code"] == "oauth.code_invalid"
    code = fake.mini_program_code(Person("ann", "Ann"))
    await mini_login(api, code)
    again = await mini_login(api, code, status=400)
    assert again["error"]["code"] == "oauth.code_invalid"
