"""Sign-up and sign-in through the API, and what the identity tests read from answers."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

PASSWORD = "correct horse battery"


async def _sign_in(
    client: TestClient, path: str, status: int, body: dict[str, Any]
) -> dict[str, Any]:
    body.setdefault("password", PASSWORD)
    if "phone" not in body:
        body.setdefault("email", "ann@example.com")
    response = await client.post(path, json=body)
    data = await response.json()
    assert response.status == status, data
    return data


async def register(client: TestClient, status: int = 201, **body: Any) -> dict[str, Any]:
    return await _sign_in(client, "/api/v1/auth/register", status, body)


async def login(client: TestClient, status: int = 200, **body: Any) -> dict[str, Any]:
    return await _sign_in(client, "/api/v1/auth/login", status, body)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def error_code(response: Any) -> str:
    return (await response.json())["error"]["code"]
