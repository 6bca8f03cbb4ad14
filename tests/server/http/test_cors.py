"""CORS: configured origins may call the API from a browser and read its answers, errors too."""

from __future__ import annotations

import pytest

from server.crypto import new_key
from server.settings import Settings
from tests.helpers.env import make_settings
from tests.helpers.http import with_header_auth
from tests.server.http import probe

ALLOWED = "https://app.example"
FOREIGN = "https://evil.example"


@pytest.fixture
async def cors_client(make_client, database_url):
    return await make_client(
        make_settings(database_url=database_url, cors_origins=[ALLOWED]),
        extra_tables=[probe.routes],
        configure=with_header_auth,
    )


def header_list(value: str | None) -> set[str]:
    return {item.strip().lower() for item in (value or "").split(",") if item.strip()}


async def test_allowed_origin_is_echoed_and_request_id_exposed(cors_client) -> None:
    response = await cors_client.get("/api/v1/meta", headers={"Origin": ALLOWED})
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    exposed = header_list(response.headers.get("Access-Control-Expose-Headers"))
    assert {"x-request-id", "retry-after"} <= exposed
    assert "origin" in header_list(response.headers.get("Vary"))


async def test_foreign_origin_gets_no_allow_origin_header(cors_client) -> None:
    response = await cors_client.get("/api/v1/meta", headers={"Origin": FOREIGN})
    assert response.status == 200  # the server answers; the browser withholds it
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Allow-Credentials" not in response.headers


async def test_preflight_allows_post_with_idempotency_key_and_content_type(cors_client) -> None:
    response = await cors_client.options(
        "/api/v1/probe/echo",
        headers={
            "Origin": ALLOWED,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "idempotency-key,content-type",
        },
    )
    assert response.status in (200, 204)
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "POST" in {
        m.upper() for m in header_list(response.headers["Access-Control-Allow-Methods"])
    }
    allowed_headers = header_list(response.headers["Access-Control-Allow-Headers"])
    assert {"idempotency-key", "content-type", "authorization"} <= allowed_headers
    assert int(response.headers["Access-Control-Max-Age"]) > 0


async def test_preflight_from_a_foreign_origin_is_not_allowed(cors_client) -> None:
    response = await cors_client.options(
        "/api/v1/probe/echo",
        headers={"Origin": FOREIGN, "Access-Control-Request-Method": "POST"},
    )
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Allow-Methods" not in response.headers


async def test_error_responses_to_an_allowed_origin_carry_the_allow_origin_header(
    cors_client,
) -> None:
    for path, status in (("/api/v1/nothing-here", 404), ("/api/v1/probe/boom", 500)):
        response = await cors_client.get(path, headers={"Origin": ALLOWED})
        assert response.status == status
        assert response.headers["Access-Control-Allow-Origin"] == ALLOWED, path
        assert "x-request-id" in header_list(response.headers["Access-Control-Expose-Headers"])
        assert "error" in await response.json()


async def test_unauthenticated_error_is_readable_by_an_allowed_origin(cors_client) -> None:
    response = await cors_client.get("/api/v1/probe/whoami", headers={"Origin": ALLOWED})
    assert response.status == 401
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED


def test_production_refuses_a_wildcard_origin() -> None:
    settings = Settings(
        environment="production",
        database_url="mysql://u:p@db/sharestack",
        redis_url="redis://cache:6379/0",
        jwt_private_key="private",
        jwt_public_key="public",
        pii_encryption_key=new_key(),
        pii_hash_key=new_key(),
        url_signing_secret="a-long-random-string",
        mail_backend="smtp",
        sms_backend="http",
        identity_verify_provider="http",
        identity_verify_url="https://identity.example/verify",
        cors_origins=["https://app.example", "*"],
        metrics_token="a-long-random-string-for-scrapers",
    )
    assert settings.check_production() == ["CORS_ORIGINS may not contain '*'"]
