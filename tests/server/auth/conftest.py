"""Helpers for the identity tests; the `api` fixture lives in tests/server/conftest.py."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

PASSWORD = "correct horse battery"


async def register(client: TestClient, status: int = 201, **body: Any) -> dict[str, Any]:
    body.setdefault("password", PASSWORD)
    if "phone" not in body:
        body.setdefault("email", "ann@example.com")
    response = await client.post("/api/v1/auth/register", json=body)
    data = await response.json()
    assert response.status == status, data
    return data


async def login(client: TestClient, status: int = 200, **body: Any) -> dict[str, Any]:
    body.setdefault("password", PASSWORD)
    if "phone" not in body:
        body.setdefault("email", "ann@example.com")
    response = await client.post("/api/v1/auth/login", json=body)
    data = await response.json()
    assert response.status == status, data
    return data


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def error_code(response: Any) -> str:
    return (await response.json())["error"]["code"]
