"""QQ Connect (graph.qq.com): token and openid in JSON with `fmt=json`, errors as
`{"error", "error_description"}`; user info answers `{"ret": 0, ...}` or a non-zero `ret`."""

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

# 100019 code to access token error, 100020 code reused, 100016 access token check failed.
CODE_ERRORS = {100019, 100020, 100016}
# 100001-100010: missing or bad client_id, client_secret or redirect_uri.
CONFIG_ERRORS = set(range(100001, 100011))


class QQ(Provider):
    name, label = "qq", "QQ"

    def __init__(
        self, *, app_id: str, app_key: SecretStr, web_url: str, api_url: str, unionid: bool
    ) -> None:
        self.app_id = app_id
        self.app_key = app_key
        self.web_url = web_url.rstrip("/")
        self.api_url = api_url.rstrip("/")
        self.unionid = unionid

    def authorize_url(self, *, state: str, redirect_uri: str, code_challenge: str | None) -> str:
        params = [
            ("response_type", "code"),
            ("client_id", self.app_id),
            ("redirect_uri", redirect_uri),
            ("state", state),
            ("scope", "get_user_info"),
        ]
        return with_query(f"{self.web_url}/oauth2.0/authorize", params)

    def _check(self, data: dict[str, object]) -> None:
        error = data.get("error")
        if error in (None, 0):
            return
        if error in CODE_ERRORS:
            raise CodeRejected()
        if error in CONFIG_ERRORS:
            raise misconfigured(self.name, f"error {error}")
        raise ProviderUnavailable()

    async def identify(
        self, http: ProviderHttp, *, code: str, redirect_uri: str, code_verifier: str | None
    ) -> ProviderIdentity:
        params = {
            "grant_type": "authorization_code",
            "client_id": self.app_id,
            "client_secret": self.app_key.get_secret_value(),
            "code": code,
            "redirect_uri": redirect_uri,
            "fmt": "json",
        }
        _, token = await http.json_object("GET", f"{self.api_url}/oauth2.0/token", params=params)
        self._check(token)
        access_token = required(token, "access_token", self.name)
        me_params = {"access_token": access_token, "fmt": "json"}
        if self.unionid:
            me_params["unionid"] = "1"
        _, me = await http.json_object("GET", f"{self.api_url}/oauth2.0/me", params=me_params)
        self._check(me)
        # A token issued to another app must not sign anyone in here.
        if str(me.get("client_id")) != self.app_id:
            raise CodeRejected()
        openid = required(me, "openid", self.name)
        _, info = await http.json_object(
            "GET",
            f"{self.api_url}/user/get_user_info",
            params={
                "access_token": access_token,
                "oauth_consumer_key": self.app_id,
                "openid": openid,
            },
        )
        if info.get("ret") != 0:
            raise ProviderUnavailable()
        nickname = info.get("nickname") or None
        avatar = info.get("figureurl_qq_2") or info.get("figureurl_qq_1") or None
        return ProviderIdentity(
            provider=self.name,
            provider_user_id=openid,
            display_name=nickname,
            avatar_url=avatar,
            union_id=me.get("unionid") or None,
            profile={"nickname": nickname, "avatar_url": avatar},
        )
