"""The creator dashboard room over Socket.IO: only that creator (or an admin) may join, and a
sale reaches it live."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from models.identity.users import User
from tests.helpers.realtime import Connect, publish, sign_up


async def test_a_creator_joins_only_their_own_dashboard(
    server: TestClient, connect: Connect, engine: AsyncEngine
) -> None:
    ann, bob, admin = await sign_up(server), await sign_up(server), await sign_up(server)
    granted_roles = [
        (ann, ["reader", "creator"]),
        (bob, ["reader", "creator"]),
        (admin, ["reader", "admin"]),
    ]
    async with engine.begin() as conn:
        for account, granted in granted_roles:
            await conn.execute(
                update(User).where(User.id == account["user"]["id"]).values(roles=granted)
            )
    ann_socket = await connect(server, {"token": ann["access_token"]})
    bob_socket = await connect(server, {"token": bob["access_token"]})
    admin_socket = await connect(server, {"token": admin["access_token"]})
    await asyncio.sleep(0.3)  # past the session cache: the new roles show

    room = {"room": f"dashboard:creator:{ann['user']['id']}"}
    assert await ann_socket.call("subscribe", room) == {"ok": True, "data": room}
    refused = await bob_socket.call("subscribe", room)
    assert refused["ok"] is False and refused["error"]["code"] == "auth.forbidden"
    assert await admin_socket.call("subscribe", room) == {"ok": True, "data": room}

    await publish(server, "sale.created", {"net": 799}, room=room["room"])
    name, payload = await ann_socket.next()
    assert (name, payload["event_id"], payload["data"]) == ("sale.created", None, {"net": 799})
    await asyncio.sleep(0.1)
    assert bob_socket.events.empty()
