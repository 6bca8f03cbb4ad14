"""Client events: acks in the contract's shape, room access, auth.refresh, limits."""

from __future__ import annotations

import asyncio

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from models.identity.users import User
from server.keys import METRICS
from tests.helpers.realtime import TIMEOUT, publish, realtime_settings, sign_in, sign_up

CACHE_TTL = 0.2  # realtime_settings' session_cache_seconds


def error(code: str) -> object:
    class Matches:
        def __eq__(self, ack: object) -> bool:
            return (
                isinstance(ack, dict)
                and ack.get("ok") is False
                and set(ack["error"]) >= {"code", "message"}
                and ack["error"]["code"] == code
            )

        def __repr__(self) -> str:
            return f"<error ack {code}>"

    return Matches()


async def test_subscribing_to_ones_own_user_room_is_ok(server, connect) -> None:
    account = await sign_up(server)
    socket = await connect(server, {"token": account["access_token"]})
    room = f"user:{account['user']['id']}"
    assert await socket.call("subscribe", {"room": room}) == {"ok": True, "data": {"room": room}}


async def test_another_users_room_is_refused(server, connect) -> None:
    ann, bob = await sign_up(server), await sign_up(server)
    socket = await connect(server, {"token": ann["access_token"]})
    ack = await socket.call("subscribe", {"room": f"user:{bob['user']['id']}"})
    assert ack == error("auth.forbidden")

    await publish(server, "notification.created", {"n": 1}, user_id=bob["user"]["id"])
    await asyncio.sleep(0.1)
    assert socket.events.empty()


async def test_an_unknown_room_kind_is_refused(server, connect) -> None:
    socket = await connect(server, {"token": (await sign_up(server))["access_token"]})
    assert await socket.call("subscribe", {"room": "nowhere:1"}) == error("realtime.unknown_room")
    assert await socket.call("subscribe", {"room": "dashboard:platformx"}) == error(
        "realtime.unknown_room"
    )


async def test_the_platform_dashboard_is_for_admins(server, connect, engine: AsyncEngine) -> None:
    reader, admin = await sign_up(server), await sign_up(server)
    reader_socket = await connect(server, {"token": reader["access_token"]})
    admin_socket = await connect(server, {"token": admin["access_token"]})
    async with engine.begin() as conn:
        await conn.execute(
            update(User).where(User.id == admin["user"]["id"]).values(roles=["reader", "admin"])
        )
    await asyncio.sleep(CACHE_TTL + 0.05)

    room = {"room": "dashboard:platform"}
    assert await reader_socket.call("subscribe", room) == error("auth.forbidden")
    assert await admin_socket.call("subscribe", room) == {"ok": True, "data": room}

    await publish(server, "analytics.updated", {"gmv": 100}, room="dashboard:platform")
    name, payload = await admin_socket.next()
    assert name == "analytics.updated"
    assert payload["event_id"] is None and payload["data"] == {"gmv": 100}
    await asyncio.sleep(0.1)
    assert reader_socket.events.empty()

    assert await admin_socket.call("unsubscribe", room) == {"ok": True, "data": room}
    await publish(server, "analytics.updated", {"gmv": 200}, room="dashboard:platform")
    await asyncio.sleep(0.2)
    assert admin_socket.events.empty(), "an unsubscribed socket gets no more room events"


async def test_the_user_room_cannot_be_left(server, connect) -> None:
    account = await sign_up(server)
    socket = await connect(server, {"token": account["access_token"]})
    ack = await socket.call("unsubscribe", {"room": f"user:{account['user']['id']}"})
    assert ack == error("auth.forbidden")


async def test_payloads_must_be_objects_with_a_room(server, connect) -> None:
    socket = await connect(server, {"token": (await sign_up(server))["access_token"]})
    for payload in (None, "user:1", [1], {"room": ""}, {"room": 5}, {"room": "x" * 201}):
        assert await socket.call("subscribe", payload) == error("request.validation"), payload


async def test_an_unknown_event_gets_an_error_ack(server, connect) -> None:
    socket = await connect(server, {"token": (await sign_up(server))["access_token"]})
    assert await socket.call("no.such.event", {}) == error("realtime.unknown_event")
    # Without an ack nothing is answered, and the socket stays connected.
    await socket.client.emit("no.such.event", {})
    assert await socket.call("subscribe", {"room": "nowhere:1"}) == error("realtime.unknown_room")


async def test_client_events_are_counted(server, connect) -> None:
    socket = await connect(server, {"token": (await sign_up(server))["access_token"]})
    counter = server.app[METRICS].socket_events
    before = counter.labels("in", "subscribe")._value.get()
    await socket.call("subscribe", {"room": "nowhere:1"})
    await socket.call("mystery", {})
    assert counter.labels("in", "subscribe")._value.get() == before + 1
    assert counter.labels("in", "unknown")._value.get() >= 1


async def test_auth_refresh_binds_a_fresh_token_of_the_same_user(server, connect) -> None:
    account = await sign_up(server)
    socket = await connect(server, {"token": account["access_token"]})
    fresh = await sign_in(server, account["user"]["email"])

    ack = await socket.call("auth.refresh", {"token": fresh["access_token"]})
    assert ack["ok"] is True
    assert ack["data"]["user_id"] == account["user"]["id"]
    assert ack["data"]["expires_at"].endswith("Z")

    # The socket now lives on the new session: ending the old one leaves it connected.
    headers = {"Authorization": f"Bearer {account['access_token']}"}
    assert (await server.post("/api/v1/auth/logout", headers=headers)).status == 204
    await asyncio.sleep(CACHE_TTL + 0.2)
    assert socket.client.connected
    # ... and ending the new one disconnects it.
    headers = {"Authorization": f"Bearer {fresh['access_token']}"}
    assert (await server.post("/api/v1/auth/logout", headers=headers)).status == 204
    await asyncio.wait_for(socket.disconnected.wait(), TIMEOUT)


async def test_auth_refresh_refuses_another_user_or_a_bad_token(server, connect) -> None:
    ann, bob = await sign_up(server), await sign_up(server)
    socket = await connect(server, {"token": ann["access_token"]})
    assert await socket.call("auth.refresh", {"token": bob["access_token"]}) == error(
        "auth.forbidden"
    )
    assert await socket.call("auth.refresh", {"token": "garbage"}) == error("auth.invalid_token")
    assert await socket.call("auth.refresh", {}) == error("request.validation")
    assert socket.client.connected


async def test_a_flood_of_client_events_is_rate_limited(make_server, connect, database_url) -> None:
    server = await make_server(
        realtime_settings(database_url, socket_event_rate=1, socket_event_burst=5)
    )
    socket = await connect(server, {"token": (await sign_up(server))["access_token"]})
    acks = await asyncio.gather(
        *(socket.call("subscribe", {"room": "nowhere:1"}) for _ in range(12))
    )
    limited = [ack for ack in acks if ack == error("rate_limited")]
    assert len(limited) >= 6
    assert sum(ack == error("realtime.unknown_room") for ack in acks) + len(limited) == 12
    assert socket.client.connected


async def test_a_message_over_64_kb_closes_only_that_connection(server, connect) -> None:
    big = await connect(server, {"token": (await sign_up(server))["access_token"]})
    other = await connect(server, {"token": (await sign_up(server))["access_token"]})

    await big.client.emit("subscribe", {"room": "x" * (65 * 1024)})
    await asyncio.wait_for(big.disconnected.wait(), TIMEOUT)

    assert other.client.connected
    assert await other.call("subscribe", {"room": "nowhere:1"}) == error("realtime.unknown_room")
