"""GitHub, WeChat (website and mini-program), QQ and Weibo as one local aiohttp server.

Each provider lives under its own path prefix (`/github`, `/github-api`, `/wechat-open`,
`/wechat-api`, `/qq`, `/qq-api`, `/weibo`, `/weibo-api`) and speaks its real wire format: the
authorize pages check the client and redirect back with `code` and `state` (standing in for the
user's consent), token endpoints check the secret, the redirect_uri of the authorisation, the
PKCE verifier (GitHub) and spend each code once, and errors come in each provider's own shape.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

GITHUB = {"client_id": "Iv1.gh-client", "client_secret": "gh-secret"}
WECHAT = {"app_id": "wx-website-app", "app_secret": "wx-website-secret"}
WECHAT_MINI = {"app_id": "wx-mini-app", "app_secret": "wx-mini-secret"}
QQ = {"app_id": "101000001", "app_key": "qq-app-key"}
WEIBO = {"app_key": "3000000001", "app_secret": "weibo-secret"}


@dataclass
class Person:
    """Someone with accounts at the providers; their ids differ per provider (and per app)."""

    key: str
    name: str
    email: str | None = None
    email_verified: bool = True
    wechat_unionid: bool = True

    @property
    def number(self) -> int:
        """The numeric id (GitHub, Weibo): the same person always has the same one."""
        return 10**8 + int(hashlib.sha256(self.key.encode()).hexdigest()[:12], 16) % 10**8

    @property
    def unionid(self) -> str | None:
        return f"union-{self.key}" if self.wechat_unionid else None

    def openid(self, app: str) -> str:
        return "o" + hashlib.sha256(f"{app}:{self.key}".encode()).hexdigest()[:27]


@dataclass
class Grant:
    provider: str
    person: Person
    client_id: str
    redirect_uri: str
    code_challenge: str | None = None
    used: bool = False


def _text_json(data: Any, status: int = 200) -> web.Response:
    """WeChat and QQ answer JSON with text/plain."""
    return web.Response(text=json.dumps(data, ensure_ascii=False), status=status)


class FakeProviders:
    def __init__(self) -> None:
        self.app = web.Application()
        self.base_url = ""  # set once the server listens
        self.consenting: dict[str, Person] = {}
        self.grants: dict[str, Grant] = {}
        self.tokens: dict[str, tuple[str, Person]] = {}
        self.broken: set[str] = set()
        # path -> (status, body): a provider answering something odd at that path.
        self.odd_answers: dict[str, tuple[int, str]] = {}
        self.delay = 0.0
        self.calls: list[tuple[str, str]] = []
        r = self.app.router
        r.add_get("/github/login/oauth/authorize", self.github_authorize)
        r.add_post("/github/login/oauth/access_token", self.github_token)
        r.add_get("/github-api/user", self.github_user)
        r.add_get("/github-api/user/emails", self.github_emails)
        r.add_get("/wechat-open/connect/qrconnect", self.wechat_qrconnect)
        r.add_get("/wechat-api/sns/oauth2/access_token", self.wechat_token)
        r.add_get("/wechat-api/sns/userinfo", self.wechat_userinfo)
        r.add_get("/wechat-api/sns/jscode2session", self.wechat_jscode2session)
        r.add_get("/qq/oauth2.0/authorize", self.qq_authorize)
        r.add_get("/qq-api/oauth2.0/token", self.qq_token)
        r.add_get("/qq-api/oauth2.0/me", self.qq_me)
        r.add_get("/qq-api/user/get_user_info", self.qq_user_info)
        r.add_get("/weibo/oauth2/authorize", self.weibo_authorize)
        r.add_post("/weibo-api/oauth2/access_token", self.weibo_token)
        r.add_get("/weibo-api/2/users/show.json", self.weibo_user)

    # --- what tests do -------------------------------------------------------------------

    def consent_as(self, provider: str, person: Person) -> None:
        """`person` is signed in at the provider and approves the next authorisation."""
        self.consenting[provider] = person

    def mini_program_code(self, person: Person) -> str:
        """What wx.login() gives the mini-program of `person`."""
        code = secrets.token_hex(16)
        self.grants[code] = Grant("wechat_mini", person, WECHAT_MINI["app_id"], "")
        return code

    # --- shared --------------------------------------------------------------------------

    async def _enter(self, provider: str, request: web.Request) -> web.Response | None:
        """Record the call; answer as a broken provider would, if this one is broken."""
        self.calls.append((provider, request.path))
        if self.delay:
            await asyncio.sleep(self.delay)
        if request.path in self.odd_answers:
            status, body = self.odd_answers[request.path]
            return web.Response(status=status, text=body)
        if provider in self.broken:
            if provider.startswith("wechat"):
                return _text_json({"errcode": -1, "errmsg": "system error"})
            return web.Response(status=502, text="<html>Bad Gateway</html>")
        return None

    def _issue_code(self, provider: str, client_id: str, redirect_uri: str, **extra: Any) -> str:
        person = self.consenting[provider]
        code = secrets.token_hex(10)
        self.grants[code] = Grant(provider, person, client_id, redirect_uri, **extra)
        return code

    def _spend(self, provider: str, code: str) -> Grant | None:
        grant = self.grants.get(code)
        if grant is None or grant.provider != provider or grant.used:
            return None
        grant.used = True
        return grant

    def _token_for(self, provider: str, person: Person) -> str:
        token = f"{provider}-token-{secrets.token_hex(12)}"
        self.tokens[token] = (provider, person)
        return token

    def _person(self, provider: str, token: str | None) -> Person | None:
        found = self.tokens.get(token or "")
        return found[1] if found and found[0] == provider else None

    @staticmethod
    def _back(redirect_uri: str, **params: str) -> web.Response:
        sep = "&" if "?" in redirect_uri else "?"
        raise web.HTTPFound(f"{redirect_uri}{sep}{urlencode(params)}")

    # --- GitHub --------------------------------------------------------------------------

    async def github_authorize(self, request: web.Request) -> web.Response:
        q = request.query
        if q.get("client_id") != GITHUB["client_id"]:
            return web.Response(status=404, text="Not Found")
        if not q.get("redirect_uri") or not q.get("state"):
            return web.Response(status=400, text="redirect_uri and state expected")
        challenge = q.get("code_challenge")
        if challenge is not None and q.get("code_challenge_method") != "S256":
            return web.Response(status=400, text="unsupported code_challenge_method")
        code = self._issue_code(
            "github", q["client_id"], q["redirect_uri"], code_challenge=challenge
        )
        return self._back(q["redirect_uri"], code=code, state=q["state"])

    async def github_token(self, request: web.Request) -> web.Response:
        if (broken := await self._enter("github", request)) is not None:
            return broken
        form = await request.post()

        def answer(data: dict[str, str]) -> web.Response:
            # Without Accept: application/json GitHub answers form-encoded.
            if "application/json" in request.headers.get("Accept", ""):
                return web.json_response(data)
            return web.Response(
                text=urlencode(data), content_type="application/x-www-form-urlencoded"
            )

        if (form.get("client_id"), form.get("client_secret")) != (
            GITHUB["client_id"],
            GITHUB["client_secret"],
        ):
            return answer({"error": "incorrect_client_credentials"})
        grant = self._spend("github", str(form.get("code", "")))
        if grant is None:
            return answer(
                {
                    "error": "bad_verification_code",
                    "error_description": "The code passed is incorrect or expired.",
                    "error_uri": "https://docs.github.com/apps/troubleshooting-oauth-errors",
                }
            )
        if form.get("redirect_uri") != grant.redirect_uri:
            return answer({"error": "redirect_uri_mismatch"})
        if grant.code_challenge is not None:
            verifier = str(form.get("code_verifier", ""))
            digest = hashlib.sha256(verifier.encode()).digest()
            if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant.code_challenge:
                return answer({"error": "invalid_grant", "error_description": "bad verifier"})
        token = self._token_for("github", grant.person)
        return answer(
            {"access_token": token, "token_type": "bearer", "scope": "read:user,user:email"}
        )

    def _github_person(self, request: web.Request) -> Person | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() not in ("bearer", "token"):
            return None
        return self._person("github", token)

    async def github_user(self, request: web.Request) -> web.Response:
        if (broken := await self._enter("github", request)) is not None:
            return broken
        person = self._github_person(request)
        if person is None:
            return web.json_response(
                {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"},
                status=401,
            )
        return web.json_response(
            {
                "login": person.key,
                "id": person.number,
                "node_id": f"U_{person.number}",
                "avatar_url": f"https://avatars.githubusercontent.com/u/{person.number}?v=4",
                "type": "User",
                "name": person.name,
                "email": None,
            }
        )

    async def github_emails(self, request: web.Request) -> web.Response:
        if (broken := await self._enter("github", request)) is not None:
            return broken
        person = self._github_person(request)
        if person is None:
            return web.json_response({"message": "Bad credentials"}, status=401)
        emails = [
            {
                "email": f"{person.key}@users.noreply.github.com",
                "primary": False,
                "verified": True,
                "visibility": None,
            }
        ]
        if person.email:
            emails.append(
                {
                    "email": person.email,
                    "primary": True,
                    "verified": person.email_verified,
                    "visibility": "private",
                }
            )
        return web.json_response(emails)

    # --- WeChat --------------------------------------------------------------------------

    async def wechat_qrconnect(self, request: web.Request) -> web.Response:
        q = request.query
        if q.get("appid") != WECHAT["app_id"] or q.get("scope") != "snsapi_login":
            return web.Response(status=200, text="<html>参数错误</html>", content_type="text/html")
        if q.get("response_type") != "code" or not q.get("redirect_uri"):
            return web.Response(status=200, text="<html>参数错误</html>", content_type="text/html")
        if not re.fullmatch(r"[a-zA-Z0-9]{1,128}", q.get("state", "")):
            return web.Response(
                status=200, text="<html>state 错误</html>", content_type="text/html"
            )
        code = self._issue_code("wechat", q["appid"], q["redirect_uri"])
        return self._back(q["redirect_uri"], code=code, state=q["state"])

    def _wechat_app(self, q: Any, app: dict[str, str]) -> web.Response | None:
        if q.get("appid") != app["app_id"]:
            return _text_json({"errcode": 40013, "errmsg": "invalid appid"})
        if q.get("secret") != app["app_secret"]:
            return _text_json({"errcode": 40125, "errmsg": "invalid appsecret"})
        if q.get("grant_type") != "authorization_code":
            return _text_json({"errcode": 40002, "errmsg": "invalid grant_type"})
        return None

    async def wechat_token(self, request: web.Request) -> web.Response:
        if (broken := await self._enter("wechat", request)) is not None:
            return broken
        q = request.query
        if (refused := self._wechat_app(q, WECHAT)) is not None:
            return refused
        grant = self.grants.get(q.get("code", ""))
        if grant is not None and grant.used:
            return _text_json({"errcode": 40163, "errmsg": "code been used"})
        grant = self._spend("wechat", q.get("code", ""))
        if grant is None:
            return _text_json({"errcode": 40029, "errmsg": "invalid code"})
        person = grant.person
        data = {
            "access_token": self._token_for("wechat", person),
            "expires_in": 7200,
            "refresh_token": secrets.token_hex(16),
            "openid": person.openid(WECHAT["app_id"]),
            "scope": "snsapi_login",
        }
        if person.unionid:
            data["unionid"] = person.unionid
        return _text_json(data)

    async def wechat_userinfo(self, request: web.Request) -> web.Response:
        if (broken := await self._enter("wechat", request)) is not None:
            return broken
        q = request.query
        person = self._person("wechat", q.get("access_token"))
        if person is None:
            return _text_json({"errcode": 40001, "errmsg": "invalid credential"})
        if q.get("openid") != person.openid(WECHAT["app_id"]):
            return _text_json({"errcode": 40003, "errmsg": "invalid openid"})
        data = {
            "openid": person.openid(WECHAT["app_id"]),
            "nickname": person.name,
            "sex": 0,
            "province": "",
            "city": "",
            "country": "CN",
            "headimgurl": f"https://thirdwx.qlogo.cn/mmopen/{person.key}/132",
            "privilege": [],
        }
        if person.unionid:
            data["unionid"] = person.unionid
        return _text_json(data)

    async def wechat_jscode2session(self, request: web.Request) -> web.Response:
        if (broken := await self._enter("wechat_mini", request)) is not None:
            return broken
        q = request.query
        if (refused := self._wechat_app(q, WECHAT_MINI)) is not None:
            return refused
        grant = self._spend("wechat_mini", q.get("js_code", ""))
        if grant is None:
            return _text_json({"errcode": 40029, "errmsg": "invalid code, rid: 6566a1b2-1"})
        person = grant.person
        data = {
            "session_key": base64.b64encode(secrets.token_bytes(16)).decode(),
            "openid": person.openid(WECHAT_MINI["app_id"]),
        }
        if person.unionid:
            data["unionid"] = person.unionid
        return _text_json(data)

    # --- QQ ------------------------------------------------------------------------------

    async def qq_authorize(self, request: web.Request) -> web.Response:
        q = request.query
        if q.get("response_type") != "code" or q.get("client_id") != QQ["app_id"]:
            return web.Response(text="<html>error: 100008 client id is illegal</html>")
        if not q.get("redirect_uri") or not q.get("state"):
            return web.Response(text="<html>error: 100010 redirect uri is illegal</html>")
        code = self._issue_code("qq", q["client_id"], q["redirect_uri"])
        return self._back(q["redirect_uri"], code=code, state=q["state"])

    async def qq_token(self, request: web.Request) -> web.Response:
        if (broken := await self._enter("qq", request)) is not None:
            return broken
        q = request.query
        as_json = q.get("fmt") == "json"

        def error(number: int, description: str) -> web.Response:
            if as_json:
                return _text_json({"error": number, "error_description": description})
            body = json.dumps({"error": number, "error_description": description})
            return web.Response(text=f"callback( {body} );")

        if q.get("grant_type") != "authorization_code":
            return error(100005, "param grant_type is wrong")
        if q.get("client_id") != QQ["app_id"]:
            return error(100008, "client id is illegal")
        if q.get("client_secret") != QQ["app_key"]:
            return error(100009, "client secret is illegal")
        grant = self._spend("qq", q.get("code", ""))
        if grant is None:
            return error(100019, "code to access token error")
        if q.get("redirect_uri") != grant.redirect_uri:
            return error(100010, "redirect uri is illegal")
        token = self._token_for("qq", grant.person)
        data = {"access_token": token, "expires_in": "7776000", "refresh_token": "qq-refresh"}
        if as_json:
            return _text_json(data)
        return web.Response(text=urlencode(data))

    async def qq_me(self, request: web.Request) -> web.Response:
        if (broken := await self._enter("qq", request)) is not None:
            return broken
        q = request.query
        person = self._person("qq", q.get("access_token"))
        if person is None:
            data: dict[str, Any] = {
                "error": 100016,
                "error_description": "access token check failed",
            }
        else:
            data = {"client_id": QQ["app_id"], "openid": person.openid("qq").upper()[:32]}
            if q.get("unionid") == "1":
                data["unionid"] = f"UID_{person.key.upper()}"
        if q.get("fmt") == "json":
            return _text_json(data)
        return web.Response(text=f"callback( {json.dumps(data)} );\n")

    async def qq_user_info(self, request: web.Request) -> web.Response:
        if (broken := await self._enter("qq", request)) is not None:
            return broken
        q = request.query
        person = self._person("qq", q.get("access_token"))
        if person is None:
            return _text_json({"ret": 100016, "msg": "access token check failed"})
        if q.get("oauth_consumer_key") != QQ["app_id"]:
            return _text_json({"ret": -22, "msg": "oauth_consumer_key is invalid"})
        if q.get("openid") != person.openid("qq").upper()[:32]:
            return _text_json({"ret": -1, "msg": "client request's parameters are invalid"})
        base = f"http://thirdqq.qlogo.cn/g?b=oidb&k={person.key}"
        return _text_json(
            {
                "ret": 0,
                "msg": "",
                "is_lost": 0,
                "nickname": person.name,
                "gender": "男",
                "figureurl": f"{base}&s=30",
                "figureurl_qq_1": f"{base}&s=40",
                "figureurl_qq_2": f"{base}&s=100",
            }
        )

    # --- Weibo ---------------------------------------------------------------------------

    async def weibo_authorize(self, request: web.Request) -> web.Response:
        q = request.query
        if q.get("client_id") != WEIBO["app_key"] or not q.get("redirect_uri"):
            return web.Response(text="<html>error:invalid_client</html>", content_type="text/html")
        code = self._issue_code("weibo", q["client_id"], q["redirect_uri"])
        return self._back(q["redirect_uri"], code=code, state=q.get("state", ""))

    @staticmethod
    def _weibo_error(
        request: web.Request, error: str, code: int, status: int = 400
    ) -> web.Response:
        return web.json_response(
            {
                "error": error,
                "error_code": code,
                "request": request.path.removeprefix("/weibo-api"),
                "error_uri": request.path.removeprefix("/weibo-api"),
            },
            status=status,
        )

    async def weibo_token(self, request: web.Request) -> web.Response:
        if (broken := await self._enter("weibo", request)) is not None:
            return broken
        form = await request.post()
        if form.get("client_id") != WEIBO["app_key"]:
            return self._weibo_error(request, "invalid_client", 21323)
        if form.get("client_secret") != WEIBO["app_secret"]:
            return self._weibo_error(request, "invalid_client", 21323)
        if form.get("grant_type") != "authorization_code":
            return self._weibo_error(request, "unsupported_grant_type", 21328)
        grant = self._spend("weibo", str(form.get("code", "")))
        if grant is None:
            return self._weibo_error(request, "invalid_grant", 21325)
        if form.get("redirect_uri") != grant.redirect_uri:
            return self._weibo_error(request, "redirect_uri_mismatch", 21322)
        token = self._token_for("weibo", grant.person)
        return web.json_response(
            {
                "access_token": token,
                "remind_in": "157679999",
                "expires_in": 157679999,
                "uid": str(grant.person.number),
                "isRealName": "true",
            }
        )

    async def weibo_user(self, request: web.Request) -> web.Response:
        if (broken := await self._enter("weibo", request)) is not None:
            return broken
        q = request.query
        person = self._person("weibo", q.get("access_token"))
        if person is None:
            return self._weibo_error(request, "invalid_access_token", 21332, status=401)
        if q.get("uid") != str(person.number):
            return self._weibo_error(request, "User does not exists!", 20003)
        return web.json_response(
            {
                "id": person.number,
                "idstr": str(person.number),
                "screen_name": person.name,
                "name": person.name,
                "profile_image_url": f"https://tvax1.sinaimg.cn/crop.0.0/{person.key}.jpg",
                "avatar_large": f"https://tvax1.sinaimg.cn/crop.0.0.180/{person.key}.jpg",
            }
        )
