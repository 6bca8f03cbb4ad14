"""Brute force: failures are counted per account across IPs and per IP (QUALITY item 11)."""

from __future__ import annotations

import pytest

from tests.helpers.auth import PASSWORD, register
from tests.helpers.env import AppClient, make_settings

WRONG = "wrong password"


async def attempt(client, password: str, ip: str, email: str = "ann@example.com"):
    return await client.post(
        "/api/v1/auth/login",
        json={"email": email, "password": password},
        headers={"X-Forwarded-For": ip},
    )


async def test_after_five_failures_from_five_ips_the_account_is_throttled(api) -> None:
    await register(api)
    for n in range(5):
        assert (await attempt(api, WRONG, f"10.0.0.{n}")).status == 401
    throttled = await attempt(api, PASSWORD, "10.0.9.9")
    assert throttled.status == 429
    assert (await throttled.json())["error"]["code"] == "rate_limited"
    assert 1 <= int(throttled.headers["Retry-After"]) <= 15 * 60


async def test_an_unknown_account_is_throttled_like_a_real_one(api) -> None:
    for n in range(5):
        response = await attempt(api, WRONG, f"10.0.1.{n}", email="ghost@example.com")
        assert response.status == 401
    assert (await attempt(api, WRONG, "10.0.1.9", email="ghost@example.com")).status == 429


async def test_a_success_clears_the_accounts_failures(api) -> None:
    await register(api)
    for n in range(4):
        assert (await attempt(api, WRONG, f"10.0.2.{n}")).status == 401
    assert (await attempt(api, PASSWORD, "10.0.2.9")).status == 200
    for n in range(4):
        assert (await attempt(api, WRONG, f"10.0.3.{n}")).status == 401
    assert (await attempt(api, PASSWORD, "10.0.3.9")).status == 200


async def test_throttling_one_account_leaves_others_alone(api) -> None:
    await register(api)
    await register(api, email="bob@example.com")
    for n in range(5):
        await attempt(api, WRONG, f"10.0.4.{n}")
    assert (await attempt(api, PASSWORD, "10.0.4.9", email="bob@example.com")).status == 200


@pytest.fixture
async def strict_ip_api(make_client: AppClient, database_url: str, settings):
    return await make_client(
        make_settings(database_url=database_url, login_throttle_ip="3/15 minutes")
    )


async def test_one_ip_guessing_many_accounts_is_throttled(strict_ip_api) -> None:
    for n in range(3):
        response = await attempt(strict_ip_api, WRONG, "10.0.5.1", email=f"u{n}@example.com")
        assert response.status == 401
    response = await attempt(strict_ip_api, WRONG, "10.0.5.1", email="u9@example.com")
    assert response.status == 429


async def test_without_redis_login_fails_closed_with_503(
    make_client: AppClient, database_url: str, settings
) -> None:
    client = await make_client(
        make_settings(database_url=database_url, redis_url="redis://127.0.0.1:1/0")
    )
    response = await attempt(client, WRONG, "10.0.6.1")
    assert response.status == 503
