"""The OpenAPI document is the contract: valid 3.1, complete, and honest about every failure."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest
from openapi_spec_validator import validate

from server.http.pagination import MAX_LIMIT
from server.keys import ROUTES

ERROR_REF = "#/components/schemas/ErrorEnvelope"
METHODS = {"get", "post", "put", "patch", "delete"}
_PATH_PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")


@pytest.fixture
async def document(probe_client) -> dict[str, Any]:
    response = await probe_client.get("/api/openapi.json")
    assert response.status == 200
    assert response.content_type == "application/json"
    return await response.json()


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op)
        for path, item in document["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]


def operation(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    return document["paths"][path][method]


async def test_document_is_a_valid_openapi_3_1_document(document) -> None:
    assert document["openapi"] == "3.1.0"
    validate(document)  # raises on any violation of the 3.1 schema or dangling $ref
    assert document["components"]["schemas"]["ErrorEnvelope"]["properties"]["error"]


async def test_every_schema_reference_resolves_to_a_component(document) -> None:
    text = orjson.dumps(document).decode()
    refs = set(re.findall(r'"\$ref":"#/components/schemas/([^"]+)"', text))
    assert "ErrorEnvelope" in refs
    assert refs <= set(document["components"]["schemas"])


# Gateways hear refusals in their own formats
# (tests/server/commerce/payments/test_notify_document.py);
# only what the platform itself answers there (422, 429) is the envelope.
OWN_FORMATS = {("post", "/api/v1/payments/{provider}/notify"): {"400", "401", "404", "500", "503"}}


async def test_every_operation_declares_its_errors_with_the_envelope(document) -> None:
    ops = operations(document)
    assert ops
    for path, method, op in ops:
        responses = op["responses"]
        errors = {status: r for status, r in responses.items() if int(status) >= 400}
        assert {"429", "500"} <= set(errors), (method, path)
        own = OWN_FORMATS.get((method, path), set())
        for status, response in errors.items():
            if status in own:
                continue
            schema = response["content"]["application/json"]["schema"]
            assert schema == {"$ref": ERROR_REF}, (method, path, status)
        assert "Retry-After" in responses["429"]["headers"], (method, path)
        if "503" not in own:
            assert "Retry-After" in responses["503"]["headers"], (method, path)


async def test_routes_with_a_body_declare_413_415_and_422(document) -> None:
    op = operation(document, "post", "/api/v1/probe/echo")
    assert op["requestBody"]["required"] is True
    assert "application/json" in op["requestBody"]["content"]
    assert {"413", "415", "422"} <= set(op["responses"])


async def test_routes_without_a_body_do_not_declare_413_or_415(document) -> None:
    op = operation(document, "get", "/api/v1/meta")
    assert "requestBody" not in op
    assert not {"413", "415"} & set(op["responses"])


async def test_authenticated_routes_declare_401_and_bearer_security(document) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    for method, path in (("post", "/api/v1/probe/echo"), ("get", "/api/v1/probe/whoami")):
        op = operation(document, method, path)
        assert "401" in op["responses"], path
        assert op["security"] == [{"bearer": []}], path


async def test_public_routes_declare_no_security_and_no_401(document) -> None:
    op = operation(document, "get", "/api/v1/meta")
    assert "security" not in op
    assert "401" not in op["responses"]


async def test_path_params_from_the_params_model_are_required_path_parameters(document) -> None:
    op = operation(document, "get", "/api/v1/probe/items/{item_id}")
    params = {p["name"]: p for p in op["parameters"]}
    assert params["item_id"]["in"] == "path"
    assert params["item_id"]["required"] is True
    assert params["item_id"]["schema"]["type"] == "integer"
    assert params["item_id"]["schema"]["minimum"] == 1
    assert "404" in op["responses"]


async def test_page_query_params_are_documented_with_their_limits(document) -> None:
    op = operation(document, "get", "/api/v1/probe/items")
    params = {p["name"]: p for p in op["parameters"]}
    assert set(params) == {"limit", "cursor"}
    limit = params["limit"]
    assert limit["in"] == "query"
    assert limit["required"] is False
    assert limit["schema"]["minimum"] == 1
    assert limit["schema"]["maximum"] == MAX_LIMIT
    assert params["cursor"]["in"] == "query"
    assert params["cursor"]["required"] is False
    # The list response is the page shape.
    schema = op["responses"]["200"]["content"]["application/json"]["schema"]
    ref = schema["$ref"].rsplit("/", 1)[-1]
    page = document["components"]["schemas"][ref]
    assert set(page["properties"]) == {"items", "next_cursor"}


async def test_strict_booleans_and_times_keep_their_json_types(document) -> None:
    """Booleans refuse 0 and times refuse numbers, yet the document still says boolean and
    date-time, in bodies and in query strings."""
    schemas = document["components"]["schemas"]
    assert schemas["Flag"]["properties"]["value"]["type"] == "boolean"
    assert schemas["Privacy"]["properties"]["searchable"]["type"] == "boolean"
    publish_at = schemas["Submit"]["properties"]["publish_at"]["anyOf"]
    assert {"type": "string", "format": "date-time"} in publish_at
    contents = {p["name"]: p for p in operation(document, "get", "/api/v1/contents")["parameters"]}
    assert contents["featured"]["schema"]["type"] == "boolean"
    wallet = operation(document, "get", "/api/v1/wallet/transactions")["parameters"]
    until = {p["name"]: p for p in wallet}["until"]["schema"]["anyOf"]
    assert {"type": "string", "format": "date-time"} in until


async def test_idempotent_routes_document_the_idempotency_key_header(document) -> None:
    op = operation(document, "post", "/api/v1/probe/echo")
    headers = [p for p in op["parameters"] if p["in"] == "header"]
    assert [h["name"] for h in headers] == ["Idempotency-Key"]
    assert headers[0]["required"] is False
    assert "409" in op["responses"]
    plain = operation(document, "get", "/api/v1/probe/whoami")
    assert all(p["in"] != "header" for p in plain.get("parameters", []))


async def test_document_covers_every_registered_route(probe_client, document) -> None:
    registered = {
        (route.method.lower(), _PATH_PARAM.sub(r"{\1}", route.path))
        for route in probe_client.app[ROUTES].routes
    }
    documented = {(method, path) for path, method, _ in operations(document)}
    assert ("get", "/api/v1/probe/items/{item_id}") in registered
    assert documented == registered


async def test_every_api_route_the_app_answers_is_documented(probe_client, document) -> None:
    documented = {(method.upper(), path) for path, method, _ in operations(document)}
    for route in probe_client.app.router.routes():
        canonical = route.resource.canonical if route.resource is not None else ""
        if canonical.startswith("/api/v1/") and route.method != "HEAD":
            assert (route.method, canonical) in documented, (route.method, canonical)


async def test_operation_ids_are_unique(document) -> None:
    ids = [op["operationId"] for _, _, op in operations(document)]
    assert len(ids) == len(set(ids))
    assert all(ids)


_ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)


@pytest.mark.parametrize("page", ["/api/docs", "/api/redoc"])
async def test_docs_pages_use_only_local_assets_that_are_served(probe_client, page: str) -> None:
    response = await probe_client.get(page)
    assert response.status == 200
    assert response.content_type == "text/html"
    html = await response.text()
    assert "/api/openapi.json" in html
    assets = _ASSET.findall(html)
    assert assets, "the page loads its viewer from somewhere"
    assert not re.search(r"""(?:src|href)\s*=\s*["']\s*(?:https?:)?//""", html, re.IGNORECASE)
    scripts = [a for a in assets if a.endswith(".js")]
    assert scripts
    for asset in assets:
        assert asset.startswith("/api/docs/static/"), asset
        served = await probe_client.get(asset)
        assert served.status == 200, asset
        body = await served.read()
        assert len(body) > 1000, asset
        if asset.endswith(".js"):
            assert "javascript" in served.content_type, (asset, served.content_type)
        if asset.endswith(".css"):
            assert served.content_type == "text/css", asset
