"""WeChat: website QR login (Open Platform) and mini-program login (jscode2session).

Both answer HTTP 200 with `{"errcode", "errmsg"}` on failure, often as text/plain. The same
person has a different openid in each app and one unionid across the apps of one platform.
"""

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

# 40029 invalid code, 40163 code been used, 41008 missing code, 40226 user blocked by risk control.
CODE_ERRORS = {40029, 40163, 41008, 40226}
# 40001 bad secret or token, 40013 bad appid, 40125 bad appsecret, 40164 IP not whitelisted.
CONFIG_ERRORS = {40001, 40013, 40125, 40164}


def _check(provider: str, data: dict[str, Any]) -> None:
    """Raise for a WeChat error answer; `errcode` 0 or absent is success."""
    errcode = data.get("errcode")
    if errcode in (None, 0):
        return
    if errcode in CODE_ERRORS:
        raise CodeRejected()
    if errcode in CONFIG_ERRORS:
        raise misconfigured(provider, f"errcode {errcode}")
    raise ProviderUnavailable()  # -1 system busy, 45011 rate limited, anything new


class WeChat(Provider):
    """Website application: the user scans a QR code on open.weixin.qq.com."""

    name, label = "wechat", "WeChat"

    def __init__(self, *, app_id: str, app_secret: SecretStr, open_url: str, api_url: str) -> None:
        self.app_id = app_id
        self.app_secret = app_secret
        self.open_url = open_url.rstrip("/")
        self.api_url = api_url.rstrip("/")

    def authorize_url(self, *, state: str, redirect_uri: str, code_challenge: str | None) -> str:
        params = [
            ("appid", self.app_id),
            ("redirect_uri", redirect_uri),
            ("response_type", "code"),
            ("scope", "snsapi_login"),
            ("state", state),
        ]
        return with_query(f"{self.open_url}/connect/qrconnect", params) + "#wechat_redirect"

    async def identify(
        self, http: ProviderHttp, *, code: str, redirect_uri: str, code_verifier: str | None
    ) -> ProviderIdentity:
        params = {
            "appid": self.app_id,
            "secret": self.app_secret.get_secret_value(),
            "code": code,
            "grant_type": "authorization_code",
        }
        _, token = await http.json_object(
            "GET", f"{self.api_url}/sns/oauth2/access_token", params=params
        )
        _check(self.name, token)
        access_token = required(token, "access_token", self.name)
        openid = required(token, "openid", self.name)
        _, user = await http.json_object(
            "GET",
            f"{self.api_url}/sns/userinfo",
            params={"access_token": access_token, "openid": openid, "lang": "zh_CN"},
        )
        _check(self.name, user)
        if user.get("openid") != openid:
            raise ProviderUnavailable()
        nickname = user.get("nickname") or None
        avatar = user.get("headimgurl") or None
        return ProviderIdentity(
            provider=self.name,
            provider_user_id=openid,
            display_name=nickname,
            avatar_url=avatar,
            union_id=user.get("unionid") or token.get("unionid") or None,
            profile={"nickname": nickname, "avatar_url": avatar},
        )


class WeChatMini(Provider):
    """Mini-program: `wx.login()` gives the client a code; there is no redirect and no state."""

    name, label, redirect = "wechat_mini", "WeChat mini-program", False

    def __init__(self, *, app_id: str, app_secret: SecretStr, api_url: str) -> None:
        self.app_id = app_id
        self.app_secret = app_secret
        self.api_url = api_url.rstrip("/")

    def authorize_url(self, *, state: str, redirect_uri: str, code_challenge: str | None) -> str:
        raise NotImplementedError("mini-programs sign in with wx.login(), not a redirect")

    async def identify(
        self, http: ProviderHttp, *, code: str, redirect_uri: str, code_verifier: str | None
    ) -> ProviderIdentity:
        params = {
            "appid": self.app_id,
            "secret": self.app_secret.get_secret_value(),
            "js_code": code,
            "grant_type": "authorization_code",
        }
        _, data = await http.json_object("GET", f"{self.api_url}/sns/jscode2session", params=params)
        _check(self.name, data)
        # session_key signs and decrypts the client's data; it is never stored or returned.
        return ProviderIdentity(
            provider=self.name,
            provider_user_id=required(data, "openid", self.name),
            union_id=data.get("unionid") or None,
        )
