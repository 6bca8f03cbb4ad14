"""The fake providers' settings and the steps of an OAuth sign-in."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
from aiohttp.test_utils import TestClient

from tests.server.identity.oauth.fake_providers import (
    GITHUB,
    QQ,
    WECHAT,
    WECHAT_MINI,
    WEIBO,
    FakeProviders,
)

REDIRECT = "https://app.example/oauth/done"
PROVIDERS_URL = "/api/v1/auth/oauth/providers"
REDIRECT_PROVIDERS = ["github", "wechat", "qq", "weibo"]


def provider_settings(base: str) -> dict[str, Any]:
    """Every provider enabled and pointed at the fake server at `base`."""
    return {
        "oauth_redirect_allowlist": ["https://app.example/oauth/", "http://localhost:5173/cb"],
        "oauth_github_client_id": GITHUB["client_id"],
        "oauth_github_client_secret": GITHUB["client_secret"],
        "oauth_github_web_url": f"{base}/github",
        "oauth_github_api_url": f"{base}/github-api",
        "oauth_wechat_app_id": WECHAT["app_id"],
        "oauth_wechat_app_secret": WECHAT["app_secret"],
        "oauth_wechat_mini_app_id": WECHAT_MINI["app_id"],
        "oauth_wechat_mini_app_secret": WECHAT_MINI["app_secret"],
        "oauth_wechat_open_url": f"{base}/wechat-open",
        "oauth_wechat_api_url": f"{base}/wechat-api",
        "oauth_qq_app_id": QQ["app_id"],
        "oauth_qq_app_key": QQ["app_key"],
        "oauth_qq_web_url": f"{base}/qq",
        "oauth_qq_api_url": f"{base}/qq-api",
        "oauth_qq_unionid": True,
        "oauth_weibo_app_key": WEIBO["app_key"],
        "oauth_weibo_app_secret": WEIBO["app_secret"],
        "oauth_weibo_web_url": f"{base}/weibo",
        "oauth_weibo_api_url": f"{base}/weibo-api",
    }


async def authorize(
    api: TestClient,
    provider: str,
    *,
    mode: str = "login",
    headers: dict[str, str] | None = None,
    redirect_uri: str = REDIRECT,
) -> dict[str, Any]:
    response = await api.post(
        f"/api/v1/auth/oauth/{provider}/authorize",
        json={"redirect_uri": redirect_uri, "mode": mode},
        headers=headers or {},
    )
    data = await response.json()
    assert response.status == 200, data
    return data


async def consent(authorize_url: str) -> tuple[str, str]:
    """The user's browser at the provider: approve, follow nothing, read code and state."""
    async with (
        aiohttp.ClientSession() as browser,
        browser.get(authorize_url.split("#")[0], allow_redirects=False) as response,
    ):
        assert response.status == 302, await response.text()
        location = response.headers["Location"]
    assert location.startswith(REDIRECT)
    query = parse_qs(urlsplit(location).query)
    return query["code"][0], query["state"][0]


async def callback(
    api: TestClient,
    provider: str,
    code: str,
    state: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> aiohttp.ClientResponse:
    return await api.post(
        f"/api/v1/auth/oauth/{provider}/callback",
        json={"code": code, "state": state, **extra},
        headers=headers or {},
    )


async def sign_in_with(
    api: TestClient, fake: FakeProviders, provider: str, person: Any, status: int = 200
) -> dict[str, Any]:
    """The whole redirect flow for `person`; the JSON answer of the callback."""
    fake.consent_as(provider, person)
    started = await authorize(api, provider)
    code, state = await consent(started["authorize_url"])
    assert state == started["state"]
    response = await callback(api, provider, code, state)
    data = await response.json()
    assert response.status == status, data
    return data


async def mini_login(api: TestClient, code: str, status: int = 200, **extra: Any) -> dict[str, Any]:
    response = await api.post("/api/v1/auth/oauth/wechat_mini/login", json={"code": code, **extra})
    data = await response.json()
    assert response.status == status, data
    return data
