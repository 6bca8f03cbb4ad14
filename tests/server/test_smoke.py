from __future__ import annotations

from server.settings import Settings


async def test_meta_answers_in_services_mode(client) -> None:
    response = await client.get("/api/v1/meta")
    assert response.status == 200
    body = await response.json()
    assert body["name"] == "ShareStack"
    assert body["mode"] == "services"
    assert body["environment"] == "test"
    assert body["time"].endswith("Z")
    assert response.headers["X-Request-ID"]


async def test_meta_names_the_mode_and_the_environment_apart(
    make_client, settings: Settings
) -> None:
    """A development server on MariaDB and Redis is in services mode, not in production."""
    client = await make_client(settings.model_copy(update={"environment": "development"}))
    body = await (await client.get("/api/v1/meta")).json()
    assert (body["mode"], body["environment"]) == ("services", "development")
