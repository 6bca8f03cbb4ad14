"""/metrics: a bearer token from settings guards it (always in production), compared safely."""

from __future__ import annotations

import pytest

from server.http.system import metrics_token_matches
from tests.helpers.env import make_settings

TOKEN = "scrape-token-of-the-tests"


@pytest.fixture
async def guarded(make_client, database_url):
    return await make_client(make_settings(database_url=database_url, metrics_token=TOKEN))


async def assert_refused(response) -> None:
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    body = await response.json()
    assert body["error"]["code"] == "metrics.unauthorized"
    assert "http_requests" not in await response.text()


async def test_metrics_without_the_token_are_refused_in_the_envelope(guarded) -> None:
    await assert_refused(await guarded.get("/metrics"))


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer wrong-token",
        f"Basic {TOKEN}",
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN[:-1]}",
        "Bearer ",
        "Bearer",
        "Bearer 令牌-not-ascii",
    ],
)
async def test_metrics_with_another_token_are_refused(guarded, authorization: str) -> None:
    await assert_refused(await guarded.get("/metrics", headers={"Authorization": authorization}))


async def test_metrics_with_the_token_are_served(guarded) -> None:
    response = await guarded.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status == 200
    assert "http_requests" in await response.text()
    lower = await guarded.get("/metrics", headers={"Authorization": f"bearer {TOKEN}"})
    assert lower.status == 200


async def test_production_serves_no_metrics_to_anyone_when_no_token_is_set(
    make_client, database_url
) -> None:
    settings = make_settings(
        database_url=database_url, environment="production", cors_origins=["https://app.example"]
    )
    client = await make_client(settings)
    await assert_refused(await client.get("/metrics"))
    await assert_refused(await client.get("/metrics", headers={"Authorization": "Bearer "}))


@pytest.mark.usefixtures("fresh_rate_window")
async def test_wrong_tokens_spend_the_per_ip_budget_and_the_right_one_never_does(
    make_client, database_url
) -> None:
    client = await make_client(
        make_settings(database_url=database_url, metrics_token=TOKEN, rate_limit_ip="2/minute")
    )
    wrong = {"Authorization": "Bearer guess"}
    assert [(await client.get("/metrics", headers=wrong)).status for _ in range(3)] == [
        401,
        401,
        429,
    ]
    right = {"Authorization": f"Bearer {TOKEN}"}
    assert [(await client.get("/metrics", headers=right)).status for _ in range(3)] == [200] * 3


def test_a_non_ascii_token_is_compared_as_utf8_without_error() -> None:
    from pydantic import SecretStr

    token = SecretStr("指标-token")
    assert metrics_token_matches("Bearer 指标-token", token)
    assert not metrics_token_matches("Bearer 指标-tokem", token)
    # Undecodable bytes, as aiohttp keeps them (surrogate escapes).
    assert not metrics_token_matches("Bearer \udcff", token)
    assert not metrics_token_matches("Bearer 指标-token", None)
