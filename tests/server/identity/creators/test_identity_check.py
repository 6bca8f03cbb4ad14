"""The identity providers: the fake for development, and the HTTP protocol against a fake server."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web

from server.identity_check import (
    FakeIdentityVerifier,
    HttpIdentityVerifier,
    IdentityUnavailable,
    verifier_from_settings,
)
from server.settings import Settings
from tests.helpers.creators import APP_ID, SECRET, FakeIdentityProvider, id_number


def http_verifier(url: str, secret: str = SECRET, timeout: float = 2) -> HttpIdentityVerifier:
    return HttpIdentityVerifier(url=url, app_id=APP_ID, secret=secret.encode(), timeout=timeout)


async def test_the_development_provider_matches_any_valid_number() -> None:
    verdict = await FakeIdentityVerifier().verify(name="张三", id_number=id_number())
    assert verdict.matched and verdict.provider == "fake" and verdict.reference


async def test_a_known_pair_matches_and_the_request_is_signed(
    provider: FakeIdentityProvider,
) -> None:
    provider.people[id_number()] = "张三"
    verdict = await http_verifier(provider.url).verify(name="张三", id_number=id_number())
    assert (verdict.result, verdict.provider, verdict.reference) == ("match", "http", "chk-1")
    [sent] = provider.requests
    assert sent["name"] == "张三" and sent["id_number"] == id_number()
    assert len(sent["request_id"]) == 32 and sent["timestamp"].isdigit()


async def test_another_name_for_the_number_is_a_mismatch(provider: FakeIdentityProvider) -> None:
    provider.people[id_number()] = "张三"
    verdict = await http_verifier(provider.url).verify(name="李四", id_number=id_number())
    assert verdict.result == "mismatch" and not verdict.matched


async def test_a_provider_that_is_down_is_unavailable(provider: FakeIdentityProvider) -> None:
    provider.down = True
    with pytest.raises(IdentityUnavailable) as raised:
        await http_verifier(provider.url).verify(name="张三", id_number=id_number())
    assert raised.value.status == 503


async def test_a_wrong_secret_is_refused_by_the_provider_and_reads_as_unavailable(
    provider: FakeIdentityProvider,
) -> None:
    with pytest.raises(IdentityUnavailable):
        await http_verifier(provider.url, secret="wrong").verify(name="张三", id_number=id_number())
    assert provider.bad_signatures == 1 and provider.requests == []


@pytest.mark.parametrize(
    "answer",
    [
        lambda body: {"request_id": "someone else's", "result": "match", "reference": "r"},
        lambda body: {"request_id": body["request_id"], "result": "maybe", "reference": "r"},
        lambda body: {"request_id": body["request_id"], "result": "match", "reference": 7},
        lambda body: ["not", "an", "object"],
    ],
)
async def test_a_malformed_answer_is_never_taken_for_a_match(
    provider: FakeIdentityProvider, answer: Any
) -> None:
    provider.answer = answer
    with pytest.raises(IdentityUnavailable):
        await http_verifier(provider.url).verify(name="张三", id_number=id_number())


async def test_a_slow_or_unreachable_provider_is_unavailable(aiohttp_server: Any) -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(1)
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/v1/verify", slow)
    server = await aiohttp_server(app)
    with pytest.raises(IdentityUnavailable):
        await http_verifier(str(server.make_url("/v1/verify")), timeout=0.1).verify(
            name="张三", id_number=id_number()
        )
    with pytest.raises(IdentityUnavailable):
        await http_verifier("http://127.0.0.1:9/v1/verify").verify(
            name="张三", id_number=id_number()
        )

    # Not JSON at all.
    async def html(request: web.Request) -> web.Response:
        return web.Response(text="<html>")

    app2 = web.Application()
    app2.router.add_post("/", html)
    server2 = await aiohttp_server(app2)
    with pytest.raises(IdentityUnavailable):
        await http_verifier(str(server2.make_url("/"))).verify(name="张三", id_number=id_number())


def test_the_provider_comes_from_settings() -> None:
    assert isinstance(verifier_from_settings(Settings()), FakeIdentityVerifier)
    configured = Settings(
        identity_verify_provider="http",
        identity_verify_url="https://id.example/v1/verify",
        identity_verify_secret="s",
    )
    verifier = verifier_from_settings(configured)
    assert isinstance(verifier, HttpIdentityVerifier) and verifier.url.startswith("https://")
    with pytest.raises(RuntimeError, match="IDENTITY_VERIFY_URL"):
        verifier_from_settings(Settings(identity_verify_provider="http"))
    with pytest.raises(RuntimeError, match="production"):
        verifier_from_settings(Settings(environment="production"))
