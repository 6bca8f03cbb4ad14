"""A fake identity-verification provider speaking our HTTP protocol, and creator helpers."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from models.identity.users import User
from server.identity.creators.resident_id import check_digit
from server.identity_check import signature
from server.settings import Settings
from tests.helpers.auth import bearer, login, register
from tests.helpers.env import make_settings

SECRET = "identity-test-secret"
APP_ID = "sharestack-test"
APPLICATIONS = "/api/v1/creators/applications"
ADMIN_APPLICATIONS = "/api/v1/admin/creator_applications"
PITCH = "I write long-form courses about Song dynasty poetry and its translation."


def id_number(first17: str = "11010519900307123") -> str:
    """A checksum-valid resident ID number starting with these seventeen digits."""
    return first17 + check_digit(first17)


@dataclass
class FakeIdentityProvider:
    """Answers `match` for the pairs it knows, `mismatch` otherwise; `down` answers 503."""

    people: dict[str, str] = field(default_factory=dict)  # id number -> name
    down: bool = False
    requests: list[dict[str, Any]] = field(default_factory=list)
    bad_signatures: int = 0
    answer: Callable[[dict[str, Any]], Any] | None = None
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        expected = signature(SECRET.encode(), request.headers.get("X-Timestamp", ""), raw)
        if not hmac.compare_digest(expected, request.headers.get("X-Signature", "")):
            self.bad_signatures += 1
            return web.json_response({"error": "bad signature"}, status=401)
        body = orjson.loads(raw)
        assert request.headers["X-App-Id"] == body["app_id"] == APP_ID
        self.requests.append(body)
        if self.down:
            return web.json_response({"error": "maintenance"}, status=503)
        if self.answer is not None:
            return web.json_response(self.answer(body))
        known = self.people.get(body["id_number"]) == body["name"]
        return web.json_response(
            {
                "request_id": body["request_id"],
                "result": "match" if known else "mismatch",
                "reference": f"chk-{len(self.requests)}",
            }
        )


def provider_settings(database_url: str, url: str, **overrides: Any) -> Settings:
    return make_settings(
        database_url=database_url,
        session_cache_seconds=0.2,
        identity_verify_provider="http",
        identity_verify_url=url,
        identity_verify_app_id=APP_ID,
        identity_verify_secret=SECRET,
        identity_verify_timeout_seconds=2,
        **overrides,
    )


Headers = dict[str, str]


async def signed_up(client: TestClient, email: str) -> tuple[int, Headers]:
    data = await register(client, email=email)
    return data["user"]["id"], bearer(data["access_token"])


async def admin(
    client: TestClient, engine: AsyncEngine, email: str = "root@example.com"
) -> Headers:
    """An administrator's headers (registered, promoted, signed in again)."""
    user_id, _ = await signed_up(client, email)
    async with engine.begin() as conn:
        await conn.execute(update(User).where(User.id == user_id).values(roles=["reader", "admin"]))
    return bearer((await login(client, email=email))["access_token"])


def application(name: str = "张三", number: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "real_name": name,
        "id_number": number or id_number(),
        "pitch": PITCH,
        "links": ["https://example.com/me"],
        **extra,
    }


ApplyFn = Callable[..., Awaitable[Any]]
