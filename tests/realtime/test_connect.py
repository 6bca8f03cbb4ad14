"""Connecting: the access token, refusals, origins, the user room, revocation and metrics."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from models.identity.users import User
from realtime.namespace import REALTIME
from server.keys import METRICS, TOKENS
from tests.helpers.realtime import TIMEOUT, publish, realtime_settings, sign_in, sign_up, until


def connections(server) -> float:
    return server.app[METRICS].sockets_connected._value.get()


@pytest.mark.parametrize(
    "auth",
    [None, {}, {"token": ""}, {"token": "garbage"}, {"token": 42}, "not-a-dict"],
    ids=["no-auth", "no-token", "empty", "garbage", "not-a-string", "auth-not-a-dict"],
)
async def test_a_socket_without_a_valid_token_is_refused(server, connect, auth) -> None:
    socket = await connect(server, auth, expect_error=True)
    assert not socket.client.connected
    [error] = socket.connect_errors
    assert error["message"] == "auth.invalid_token"
    assert error["data"]["code"] == "auth.invalid_token"
    assert error["data"]["message"]


async def test_an_expired_token_is_refused(server, connect) -> None:
    account = await sign_up(server)
    tokens = server.app[TOKENS]
    session_id = tokens.decode_access(account["access_token"]).session_id
    expired = tokens.issue_access(
        user_id=account["user"]["id"],
        session_id=session_id,
        roles=["reader"],
        now=datetime.now(UTC) - timedelta(hours=2),
    )
    socket = await connect(server, {"token": expired}, expect_error=True)
    [error] = socket.connect_errors
    assert error["message"] == "auth.invalid_token"
    assert error["data"]["code"] == "auth.invalid_token"


async def test_a_revoked_sessions_token_is_refused_with_the_precise_code(server, connect) -> None:
    account = await sign_up(server)
    headers = {"Authorization": f"Bearer {account['access_token']}"}
    assert (await server.post("/api/v1/auth/logout", headers=headers)).status == 204
    socket = await connect(server, {"token": account["access_token"]}, expect_error=True)
    [error] = socket.connect_errors
    assert error["message"] == "auth.invalid_token"
    assert error["data"]["code"] == "auth.session_revoked"


async def test_a_foreign_origin_is_refused_when_origins_are_configured(
    make_server, connect, database_url
) -> None:
    server = await make_server(
        realtime_settings(database_url, cors_origins=["https://app.example.com"])
    )
    token = (await sign_up(server))["access_token"]
    await connect(
        server, {"token": token}, headers={"Origin": "https://evil.example.com"}, expect_error=True
    )
    allowed = await connect(server, {"token": token}, headers={"Origin": "https://app.example.com"})
    assert allowed.client.connected


async def test_a_connected_socket_receives_its_users_events_in_the_envelope(
    server, connect
) -> None:
    ann, bob = await sign_up(server), await sign_up(server)
    ann_socket = await connect(server, {"token": ann["access_token"]})
    bob_socket = await connect(server, {"token": bob["access_token"]})

    await publish(server, "notification.created", {"text": "你好"}, user_id=ann["user"]["id"])

    name, payload = await ann_socket.next()
    assert name == "notification.created"
    assert set(payload) == {"event_id", "type", "ts", "data"}
    assert payload["type"] == "notification.created"
    assert payload["data"] == {"text": "你好"}
    assert isinstance(payload["event_id"], str) and payload["event_id"]
    assert payload["ts"].endswith("Z")
    await asyncio.sleep(0.1)
    assert bob_socket.events.empty(), "another user's event never reaches this socket"


async def test_connections_are_counted_in_the_metrics(server, connect) -> None:
    token = (await sign_up(server))["access_token"]
    before = connections(server)
    socket = await connect(server, {"token": token})
    assert connections(server) == before + 1
    await socket.client.disconnect()
    await until(lambda: connections(server) == before)


async def test_a_revoked_sessions_socket_is_disconnected(server, connect) -> None:
    account = await sign_up(server)
    other_session = await sign_in(server, account["user"]["email"])
    socket = await connect(server, {"token": account["access_token"]})
    survivor = await connect(server, {"token": other_session["access_token"]})

    headers = {"Authorization": f"Bearer {account['access_token']}"}
    assert (await server.post("/api/v1/auth/logout", headers=headers)).status == 204

    await asyncio.wait_for(socket.disconnected.wait(), TIMEOUT)
    assert not socket.client.connected
    assert survivor.client.connected, "only the revoked session's sockets go"
    assert server.app[REALTIME].sockets_by_session.keys() == {
        server.app[TOKENS].decode_access(other_session["access_token"]).session_id
    }


async def test_a_disabled_accounts_socket_is_disconnected(
    server, connect, engine: AsyncEngine
) -> None:
    account = await sign_up(server)
    socket = await connect(server, {"token": account["access_token"]})
    async with engine.begin() as conn:
        await conn.execute(update(User).values(status="disabled"))
    await asyncio.wait_for(socket.disconnected.wait(), TIMEOUT)


async def test_an_unreachable_database_refuses_with_service_unavailable(
    server, connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = (await sign_up(server))["access_token"]

    async def down(*_args: object) -> None:
        raise OSError("database unreachable")

    monkeypatch.setattr(server.app[REALTIME].guard, "principal", down)
    socket = await connect(server, {"token": token}, expect_error=True)
    [error] = socket.connect_errors
    assert error["message"] == "service.unavailable"
    assert error["data"]["code"] == "service.unavailable"
