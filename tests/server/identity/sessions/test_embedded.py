"""The same flows on the embedded mode's SQLite: two-step sign-in, devices, sessions, bans."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import update

from models.identity.users import User
from server.app import create_app
from server.keys import RUNTIME
from tests.helpers.auth import bearer, login, register
from tests.helpers.env import migrated_embedded_settings
from tests.helpers.twofactor import enable_two_factor, freeze, totp_code, verify


async def test_two_factor_devices_sessions_and_bans_work_on_sqlite(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    api = await aiohttp_client(create_app(await migrated_embedded_settings(tmp_path)))
    clock = freeze(api)
    root = await register(api, email="root@example.com")
    async with api.app[RUNTIME].db.unit_of_work() as uow:
        await uow.session.execute(update(User).values(roles=["reader", "admin"]))
    admin = bearer(root["access_token"])
    ann = await register(api)
    secret, _ = await enable_two_factor(api, ann["access_token"], clock)
    challenge = (await login(api, 202))["challenge"]
    signed_in = await (await verify(api, challenge, totp_code(secret, clock, 1))).json()
    token = signed_in["access_token"]

    device = {"platform": "android", "provider": "fcm", "push_token": "tok"}
    first = await api.post("/api/v1/me/devices", json=device, headers=bearer(token))
    moved = await api.post("/api/v1/me/devices", json=device, headers=admin)
    assert first.status == moved.status == 201
    assert (await first.json())["id"] == (await moved.json())["id"]

    revoked = await api.post("/api/v1/me/sessions/revoke_others", headers=bearer(token))
    assert await revoked.json() == {"revoked": 1}
    found = await api.get("/api/v1/admin/users", params={"q": "ann"}, headers=admin)
    [user] = (await found.json())["items"]
    ban = await api.post(
        f"/api/v1/admin/users/{user['id']}/ban", json={"reason": "spam"}, headers=admin
    )
    assert ban.status == 200
    assert (await api.get("/api/v1/me", headers=bearer(token))).status == 401
    role = await api.get("/api/v1/admin/users", params={"role": "admin"}, headers=admin)
    assert [item["id"] for item in (await role.json())["items"]] == [root["user"]["id"]]
