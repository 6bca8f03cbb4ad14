"""Which browser origins may open a socket: the CORS allowlist, never "any" by mistake."""

from __future__ import annotations

from typing import Any

import pytest

from realtime.server import create_socket_server, socket_origins
from server.settings import Settings

ALLOWED = "https://app.example"
POLLING = "/socket.io/?EIO=4&transport=polling"
WEBSOCKET = "/socket.io/?EIO=4&transport=websocket"


@pytest.mark.parametrize("origins", [[], ["*"], ["https://app.example", "*"], ["/"]])
def test_production_never_builds_a_socket_server_that_accepts_any_origin(
    origins: list[str],
) -> None:
    settings = Settings(environment="production", cors_origins=origins)
    with pytest.raises(ValueError, match="CORS_ORIGINS"):
        create_socket_server(settings)


@pytest.mark.parametrize("environment", ["development", "test", "production"])
def test_configured_origins_are_passed_as_a_non_empty_list(environment: str) -> None:
    settings = Settings(environment=environment, cors_origins=[ALLOWED + "/", "/"])
    assert socket_origins(settings) == [ALLOWED]


@pytest.mark.parametrize("environment", ["development", "test"])
def test_outside_production_no_origins_means_an_explicit_wildcard(environment: str) -> None:
    assert socket_origins(Settings(environment=environment)) == "*"
    assert socket_origins(Settings(environment=environment, cors_origins=["/"])) == "*"


async def test_a_listed_origin_written_with_a_trailing_slash_may_open_a_socket(
    make_server: Any, database_url: str
) -> None:
    from tests.helpers.realtime import realtime_settings

    server = await make_server(realtime_settings(database_url, cors_origins=[ALLOWED + "/"]))
    # A websocket session ends with its connection (a polling one would outlive the test).
    allowed = await server.ws_connect(WEBSOCKET, headers={"Origin": ALLOWED})
    try:
        assert allowed._response.status == 101
    finally:
        await allowed.close()
    for path in (WEBSOCKET, POLLING):
        foreign = await server.get(path, headers={"Origin": "https://evil.example"})
        assert foreign.status == 400, path
        assert "not an accepted origin" in await foreign.text()
