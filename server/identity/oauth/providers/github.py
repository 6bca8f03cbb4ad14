"""GitHub OAuth apps: authorization code with PKCE (S256), token answers errors with 200."""

from __future__ import annotations

from typing import Any

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

# Token errors that mean our app is misconfigured rather than the code being bad.
CONFIG_ERRORS = {"incorrect_client_credentials", "redirect_uri_mismatch", "unverified_user_email"}


class GitHub(Provider):
    name, label, pkce = "github", "GitHub", True

    def __init__(
        self, *, client_id: str, client_secret: SecretStr, web_url: str, api_url: str, scope: str
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.web_url = web_url.rstrip("/")
        self.api_url = api_url.rstrip("/")
        self.scope = scope

    def authorize_url(self, *, state: str, redirect_uri: str, code_challenge: str | None) -> str:
        params = [
            ("client_id", self.client_id),
            ("redirect_uri", redirect_uri),
            ("scope", self.scope),
            ("state", state),
            ("allow_signup", "true"),
        ]
        if code_challenge is not None:
            params += [("code_challenge", code_challenge), ("code_challenge_method", "S256")]
        return with_query(f"{self.web_url}/login/oauth/authorize", params)

    async def identify(
        self, http: ProviderHttp, *, code: str, redirect_uri: str, code_verifier: str | None
    ) -> ProviderIdentity:
        token = await self._access_token(
            http, code=code, redirect_uri=redirect_uri, code_verifier=code_verifier
        )
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }
        status, user = await http.json_object("GET", f"{self.api_url}/user", headers=headers)
        if status != 200:
            raise ProviderUnavailable()
        user_id = required(user, "id", self.name)
        login = user.get("login")
        return ProviderIdentity(
            provider=self.name,
            provider_user_id=user_id,
            display_name=user.get("name") or login,
            avatar_url=user.get("avatar_url"),
            email=await self._verified_email(http, headers),
            profile={
                "login": login,
                "name": user.get("name"),
                "avatar_url": user.get("avatar_url"),
            },
        )

    async def _access_token(
        self, http: ProviderHttp, *, code: str, redirect_uri: str, code_verifier: str | None
    ) -> str:
        form = {
            "client_id": self.client_id,
            "client_secret": self.client_secret.get_secret_value(),
            "code": code,
            "redirect_uri": redirect_uri,
        }
        if code_verifier is not None:
            form["code_verifier"] = code_verifier
        status, data = await http.json_object(
            "POST",
            f"{self.web_url}/login/oauth/access_token",
            form=form,
            headers={"Accept": "application/json"},
        )
        error = data.get("error")
        if error in CONFIG_ERRORS:
            raise misconfigured(self.name, str(error))
        if error is not None or status != 200:
            raise CodeRejected()
        return required(data, "access_token", self.name)

    async def _verified_email(self, http: ProviderHttp, headers: dict[str, str]) -> str | None:
        """The primary email if GitHub verified it; none without the user:email scope."""
        status, emails = await http.request("GET", f"{self.api_url}/user/emails", headers=headers)
        if status != 200 or not isinstance(emails, list):
            return None
        for entry in emails:
            if _is_primary_verified(entry):
                return str(entry["email"])
        return None


def _is_primary_verified(entry: Any) -> bool:
    return (
        isinstance(entry, dict)
        and entry.get("primary") is True
        and entry.get("verified") is True
        and isinstance(entry.get("email"), str)
    )
