from __future__ import annotations


async def test_meta_answers_in_production_mode(client) -> None:
    response = await client.get("/api/v1/meta")
    assert response.status == 200
    body = await response.json()
    assert body["name"] == "ShareStack"
    assert body["mode"] == "production"
    assert body["time"].endswith("Z")
    assert response.headers["X-Request-ID"]
