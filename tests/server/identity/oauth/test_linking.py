"""Linking providers to an account, listing them, and unlinking (never the last way in)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from models.identity.oauth import OAuthAccount, OAuthState
from tests.helpers.auth import bearer, error_code, register
from tests.helpers.oauth import authorize, callback, consent, mini_login, sign_in_with
from tests.server.identity.oauth.fake_providers import Person

LINKS = "/api/v1/me/oauth"


async def _bind(api, fake, provider: str, person: Person, headers: dict[str, str]):
    """Start a bind as the owner of `headers` and come back with the provider's code."""
    fake.consent_as(provider, person)
    started = await authorize(api, provider, mode="bind", headers=headers)
    code, state = await consent(started["authorize_url"])
    return code, state


async def _links(api, headers: dict[str, str]) -> list[dict]:
    response = await api.get(LINKS, headers=headers)
    assert response.status == 200
    body = await response.json()
    assert body["next_cursor"] is None
    return body["items"]


async def test_binding_links_the_provider_and_later_sign_ins_reach_the_account(api, fake) -> None:
    ann = await register(api, email="ann@example.com")
    headers = bearer(ann["access_token"])
    code, state = await _bind(api, fake, "github", Person("ann", "Ann L"), headers)
    response = await callback(api, "github", code, state, headers=headers)
    linked = await response.json()
    assert response.status == 200, linked
    assert linked["provider"] == "github"
    assert linked["display_name"] == "Ann L"
    assert linked["avatar_url"].startswith("https://avatars.githubusercontent.com/")
    assert "access_token" not in linked
    signed_in = await sign_in_with(api, fake, "github", Person("ann", "Ann L"))
    assert signed_in["user"]["id"] == ann["user"]["id"]
    items = await _links(api, headers)
    assert [item["provider"] for item in items] == ["github"]
    assert items[0]["last_login_at"] is not None


async def test_bind_needs_a_signed_in_user(api) -> None:
    response = await api.post(
        "/api/v1/auth/oauth/github/authorize",
        json={"redirect_uri": "https://app.example/oauth/x", "mode": "bind"},
    )
    assert response.status == 401
    response = await api.post(
        "/api/v1/auth/oauth/github/authorize",
        json={"redirect_uri": "https://app.example/oauth/x", "mode": "bind"},
        headers=bearer("not-a-token"),
    )
    assert response.status == 401


async def test_bind_records_the_user_on_the_state(api, fake, engine: AsyncEngine) -> None:
    ann = await register(api)
    await authorize(api, "qq", mode="bind", headers=bearer(ann["access_token"]))
    async with engine.connect() as conn:
        assert await conn.scalar(select(OAuthState.user_id)) == ann["user"]["id"]


async def test_a_bind_finished_without_the_binders_token_is_refused_and_stays_usable(
    api, fake
) -> None:
    ann = await register(api, email="ann@example.com")
    eve = await register(api, email="eve@example.com")
    code, state = await _bind(api, fake, "weibo", Person("ann", "Ann"), bearer(ann["access_token"]))
    anonymous = await callback(api, "weibo", code, state)
    assert anonymous.status == 400
    assert await error_code(anonymous) == "oauth.state_invalid"
    other = await callback(api, "weibo", code, state, headers=bearer(eve["access_token"]))
    assert other.status == 400
    assert await error_code(other) == "oauth.state_invalid"
    mine = await callback(api, "weibo", code, state, headers=bearer(ann["access_token"]))
    assert mine.status == 200
    assert await _links(api, bearer(eve["access_token"])) == []


async def test_a_stale_token_left_in_the_client_does_not_block_signing_in(api, fake) -> None:
    fake.consent_as("github", Person("ann", "Ann"))
    started = await authorize(api, "github")
    code, state = await consent(started["authorize_url"])
    response = await callback(api, "github", code, state, headers=bearer("garbage"))
    assert response.status == 200


async def test_an_identity_linked_to_another_account_cannot_be_bound(
    api, fake, engine: AsyncEngine
) -> None:
    ann = Person("ann", "Ann")
    owner = await sign_in_with(api, fake, "qq", ann)
    bob = await register(api, email="bob@example.com")
    headers = bearer(bob["access_token"])
    code, state = await _bind(api, fake, "qq", ann, headers)
    response = await callback(api, "qq", code, state, headers=headers)
    assert response.status == 409
    assert await error_code(response) == "oauth.already_linked"
    async with engine.connect() as conn:
        owners = (await conn.execute(select(OAuthAccount.user_id))).scalars().all()
    assert owners == [owner["user"]["id"]]


async def test_a_wechat_person_known_through_the_mini_program_cannot_be_bound_elsewhere(
    api, fake
) -> None:
    ann = Person("ann", "Ann")
    await mini_login(api, fake.mini_program_code(ann))
    bob = await register(api, email="bob@example.com")
    headers = bearer(bob["access_token"])
    code, state = await _bind(api, fake, "wechat", ann, headers)
    response = await callback(api, "wechat", code, state, headers=headers)
    assert response.status == 409
    assert await error_code(response) == "oauth.already_linked"


async def test_binding_the_same_identity_again_is_a_no_op(api, fake, engine) -> None:
    ann = await register(api)
    headers = bearer(ann["access_token"])
    for _ in range(2):
        code, state = await _bind(api, fake, "github", Person("ann", "Ann"), headers)
        response = await callback(api, "github", code, state, headers=headers)
        assert response.status == 200
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(OAuthAccount)) == 1


async def test_a_second_account_of_the_same_provider_cannot_be_bound(api, fake) -> None:
    ann = await register(api)
    headers = bearer(ann["access_token"])
    code, state = await _bind(api, fake, "github", Person("ann", "Ann"), headers)
    assert (await callback(api, "github", code, state, headers=headers)).status == 200
    code, state = await _bind(api, fake, "github", Person("ann2", "Ann too"), headers)
    response = await callback(api, "github", code, state, headers=headers)
    assert response.status == 409
    assert await error_code(response) == "oauth.provider_already_linked"


async def test_linked_accounts_are_only_the_callers(api, fake) -> None:
    await sign_in_with(api, fake, "github", Person("ann", "Ann"))
    bob = await register(api, email="bob@example.com")
    assert await _links(api, bearer(bob["access_token"])) == []
    assert (await api.get(LINKS)).status == 401


async def test_unlinking_removes_the_link_so_the_identity_signs_up_afresh(api, fake) -> None:
    ann = await register(api)
    headers = bearer(ann["access_token"])
    code, state = await _bind(api, fake, "weibo", Person("ann", "Ann"), headers)
    assert (await callback(api, "weibo", code, state, headers=headers)).status == 200
    response = await api.delete(f"{LINKS}/weibo", headers=headers)
    assert response.status == 204
    assert await _links(api, headers) == []
    fresh = await sign_in_with(api, fake, "weibo", Person("ann", "Ann"))
    assert fresh["user"]["id"] != ann["user"]["id"]


async def test_unlinking_a_provider_that_is_not_linked_is_404(api, fake) -> None:
    ann = await register(api)
    headers = bearer(ann["access_token"])
    for provider in ("github", "nosuch"):
        response = await api.delete(f"{LINKS}/{provider}", headers=headers)
        assert response.status == 404
        assert await error_code(response) == "oauth.not_linked"
    # Another user's link is not the caller's to remove.
    await sign_in_with(api, fake, "github", Person("bob", "Bob"))
    response = await api.delete(f"{LINKS}/github", headers=headers)
    assert response.status == 404


async def test_the_last_way_to_sign_in_cannot_be_unlinked(api, fake, engine) -> None:
    ann = await sign_in_with(api, fake, "qq", Person("ann", "Ann"))
    headers = bearer(ann["access_token"])
    response = await api.delete(f"{LINKS}/qq", headers=headers)
    assert response.status == 409
    assert await error_code(response) == "oauth.last_login_method"
    assert len(await _links(api, headers)) == 1


async def test_with_a_second_provider_one_can_be_unlinked_but_not_both(api, fake) -> None:
    ann = await sign_in_with(api, fake, "qq", Person("ann", "Ann"))
    headers = bearer(ann["access_token"])
    code, state = await _bind(api, fake, "weibo", Person("ann", "Ann"), headers)
    assert (await callback(api, "weibo", code, state, headers=headers)).status == 200
    assert (await api.delete(f"{LINKS}/qq", headers=headers)).status == 204
    last = await api.delete(f"{LINKS}/weibo", headers=headers)
    assert last.status == 409
    assert await error_code(last) == "oauth.last_login_method"


async def test_an_account_with_a_verified_email_may_unlink_its_only_provider(api, fake) -> None:
    person = Person("ann", "Ann", email="ann@example.com")
    ann = await sign_in_with(api, fake, "github", person)
    assert ann["user"]["email"] == "ann@example.com"
    response = await api.delete(f"{LINKS}/github", headers=bearer(ann["access_token"]))
    assert response.status == 204
