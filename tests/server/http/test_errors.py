"""Every failure answers in the contract's envelope and with the right status."""

from __future__ import annotations

import orjson
import pytest
from structlog.testing import capture_logs

from tests.helpers.env import make_settings


def assert_envelope(body: dict, code: str) -> None:
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


async def test_unknown_route_is_404_in_the_envelope(probe_client) -> None:
    response = await probe_client.get("/api/v1/nothing-here")
    assert response.status == 404
    assert_envelope(await response.json(), "not_found")


async def test_wrong_method_is_405_in_the_envelope(probe_client) -> None:
    response = await probe_client.delete("/api/v1/meta")
    assert response.status == 405
    assert_envelope(await response.json(), "method_not_allowed")


async def test_body_over_the_limit_is_413(probe_client) -> None:
    big = orjson.dumps({"text": "x" * (1024 * 1024 + 10)})
    response = await probe_client.post(
        "/api/v1/probe/echo",
        data=big,
        headers={"Content-Type": "application/json", "X-Test-User": "1"},
    )
    assert response.status == 413
    assert_envelope(await response.json(), "request.too_large")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
async def test_non_json_body_is_415(probe_client, content_type: str) -> None:
    response = await probe_client.post(
        "/api/v1/probe/echo",
        data=b'{"text": "hi"}',
        headers={"Content-Type": content_type, "X-Test-User": "1"},
    )
    assert response.status == 415
    assert_envelope(await response.json(), "request.unsupported_media_type")


async def test_malformed_json_is_400(probe_client) -> None:
    response = await probe_client.post(
        "/api/v1/probe/echo",
        data=b'{"text": ',
        headers={"Content-Type": "application/json", "X-Test-User": "1"},
    )
    assert response.status == 400
    assert_envelope(await response.json(), "request.invalid_json")


async def test_invalid_fields_are_422_with_one_message_per_field(probe_client) -> None:
    response = await probe_client.post(
        "/api/v1/probe/echo",
        json={"text": "", "count": 99, "mood": "angry", "extra": 1},
        headers={"X-Test-User": "1"},
    )
    assert response.status == 422
    body = await response.json()
    assert_envelope(body, "request.validation")
    assert set(body["error"]["fields"]) == {"body.text", "body.count", "body.mood"}


async def test_empty_and_non_object_bodies_are_422(probe_client) -> None:
    for data in (b"", b"[1, 2]", b'"text"'):
        response = await probe_client.post(
            "/api/v1/probe/echo",
            data=data,
            headers={"Content-Type": "application/json", "X-Test-User": "1"},
        )
        assert response.status == 422, data
        assert (await response.json())["error"]["code"] == "request.validation"


async def test_invalid_path_and_query_parameters_are_422(probe_client) -> None:
    response = await probe_client.get("/api/v1/probe/items/0")
    assert response.status == 422
    assert set((await response.json())["error"]["fields"]) == {"path.item_id"}
    response = await probe_client.get("/api/v1/probe/items/abc")
    assert response.status == 422
    response = await probe_client.get("/api/v1/probe/items", params={"limit": "1000"})
    assert response.status == 422
    assert set((await response.json())["error"]["fields"]) == {"query.limit"}


async def test_authenticated_route_without_credentials_is_401(probe_client) -> None:
    response = await probe_client.get("/api/v1/probe/whoami")
    assert response.status == 401
    assert_envelope(await response.json(), "auth.unauthorized")


async def test_unexpected_error_is_a_bare_500_with_the_request_id(probe_client) -> None:
    with capture_logs() as logs:
        response = await probe_client.get("/api/v1/probe/boom")
    assert response.status == 500
    body = await response.json()
    assert_envelope(body, "internal")
    request_id = response.headers["X-Request-ID"]
    assert request_id in body["error"]["message"]
    assert "secret detail" not in orjson.dumps(body).decode()
    logged = [entry for entry in logs if entry["event"] == "http.unhandled"]
    assert logged and logged[0]["request_id"] == request_id


async def test_database_outage_is_503_not_500(make_client) -> None:
    # Nothing listens on port 1: every connection attempt fails at once.
    settings = make_settings(database_url="mysql://nobody:x@127.0.0.1:1/nothing")
    client = await make_client(settings)
    response = await client.get("/readyz")
    assert response.status == 503
    assert (await response.json())["checks"]["database"] == "unavailable"


async def test_a_request_while_the_database_is_down_is_503_with_retry_after(make_client) -> None:
    settings = make_settings(database_url="mysql://nobody:x@127.0.0.1:1/nothing")
    client = await make_client(settings)
    response = await client.get("/api/v1/products")
    assert response.status == 503
    assert_envelope(await response.json(), "service.unavailable")
    assert int(response.headers["Retry-After"]) >= 1


async def test_requests_get_an_id_and_keep_a_safe_incoming_one(probe_client) -> None:
    first = await probe_client.get("/api/v1/meta")
    second = await probe_client.get("/api/v1/meta")
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]
    kept = await probe_client.get("/api/v1/meta", headers={"X-Request-ID": "lb-1234abcd"})
    assert kept.headers["X-Request-ID"] == "lb-1234abcd"
    replaced = await probe_client.get("/api/v1/meta", headers={"X-Request-ID": "<script>"})
    assert replaced.headers["X-Request-ID"] != "<script>"
