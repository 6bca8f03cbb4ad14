"""Weibo (api.weibo.com): token by POSTed form, errors as HTTP 400 with
`{"error", "error_code", "error_description"}`; the token answer names the user (`uid`)."""

from __future__ import annotations

from pydantic import SecretStr

from server.identity.oauth.providers.base import (
    CodeRejected,
    Provider,
    ProviderHttp,
    ProviderIdentity,
    ProviderUnavailable,
    misconfigured,
    required,
    with_query,
)

# 21323 illegal client, 21322 redirect_uri mismatch, 21324 unauthorized client.
CONFIG_ERRORS = {21322, 21323, 21324, 21337}


class Weibo(Provider):
    name, label = "weibo", "Weibo"

    def __init__(self, *, app_key: str, app_secret: SecretStr, web_url: str, api_url: str) -> None:
        self.app_key = app_key
        self.app_secret = app_secret
        self.web_url = web_url.rstrip("/")
        self.api_url = api_url.rstrip("/")

    def authorize_url(self, *, state: str, redirect_uri: str, code_challenge: str | None) -> str:
        params = [
            ("client_id", self.app_key),
            ("redirect_uri", redirect_uri),
            ("response_type", "code"),
            ("state", state),
        ]
        return with_query(f"{self.web_url}/oauth2/authorize", params)

    async def identify(
        self, http: ProviderHttp, *, code: str, redirect_uri: str, code_verifier: str | None
    ) -> ProviderIdentity:
        form = {
            "client_id": self.app_key,
            "client_secret": self.app_secret.get_secret_value(),
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
        }
        status, token = await http.json_object(
            "POST", f"{self.api_url}/oauth2/access_token", form=form
        )
        if token.get("error_code") in CONFIG_ERRORS:
            raise misconfigured(self.name, f"error_code {token.get('error_code')}")
        if status != 200 or "error" in token:
            raise CodeRejected()
        access_token = required(token, "access_token", self.name)
        uid = required(token, "uid", self.name)
        status, user = await http.json_object(
            "GET",
            f"{self.api_url}/2/users/show.json",
            params={"access_token": access_token, "uid": uid},
        )
        if status != 200 or str(user.get("id")) != uid:
            raise ProviderUnavailable()
        name = user.get("screen_name") or None
        avatar = user.get("avatar_large") or user.get("profile_image_url") or None
        return ProviderIdentity(
            provider=self.name,
            provider_user_id=uid,
            display_name=name,
            avatar_url=avatar,
            profile={"screen_name": name, "avatar_url": avatar},
        )
