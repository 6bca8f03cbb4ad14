"""Push devices: register (an upsert by provider and token), list, remove, and session ends."""

from __future__ import annotations

import asyncio

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from models.identity.auth import Device
from tests.helpers.auth import bearer, error_code, login, register

IPHONE = {"platform": "ios", "provider": "apns", "push_token": "a" * 64, "name": "Ann's iPhone"}


async def register_device(api, token: str, status: int = 201, **body) -> dict:
    response = await api.post("/api/v1/me/devices", json=body or IPHONE, headers=bearer(token))
    data = await response.json()
    assert response.status == status, data
    return data


async def devices_of(api, token: str, **params) -> list[dict]:
    response = await api.get("/api/v1/me/devices", params=params, headers=bearer(token))
    assert response.status == 200
    return (await response.json())["items"]


async def test_a_device_is_registered_and_listed(api) -> None:
    token = (await register(api))["access_token"]
    device = await register_device(api, token, **IPHONE, app_version="2.3.1")
    assert device["platform"] == "ios" and device["provider"] == "apns"
    assert device["name"] == "Ann's iPhone" and device["app_version"] == "2.3.1"
    assert device["current"] is True and device["session_id"]
    assert "push_token" not in device
    assert await devices_of(api, token) == [device]


async def test_the_same_token_again_updates_the_registration(api, engine: AsyncEngine) -> None:
    token = (await register(api))["access_token"]
    first = await register_device(api, token)
    second = await register_device(api, token, **{**IPHONE, "name": "Renamed", "app_version": "3"})
    assert second["id"] == first["id"]
    assert second["name"] == "Renamed" and second["app_version"] == "3"
    async with engine.connect() as conn:
        assert len((await conn.execute(select(Device.id))).all()) == 1
    # The same token under another provider is another device.
    other = await register_device(api, token, **{**IPHONE, "provider": "jpush"})
    assert other["id"] != first["id"]


async def test_a_token_moving_to_another_account_is_reassigned(api) -> None:
    ann = (await register(api))["access_token"]
    bob = (await register(api, email="bob@example.com"))["access_token"]
    ann_device = await register_device(api, ann)
    bob_device = await register_device(api, bob)
    assert bob_device["id"] == ann_device["id"]
    assert await devices_of(api, ann) == []
    assert [device["id"] for device in await devices_of(api, bob)] == [bob_device["id"]]


async def test_concurrent_registrations_of_one_token_make_one_device(api, engine) -> None:
    token = (await register(api))["access_token"]
    bob = (await register(api, email="bob@example.com"))["access_token"]
    results = await asyncio.gather(
        *(register_device(api, token if n % 2 else bob) for n in range(8))
    )
    assert len({result["id"] for result in results}) == 1
    async with engine.connect() as conn:
        assert len((await conn.execute(select(Device.id))).all()) == 1
    owners = [len(await devices_of(api, account)) for account in (token, bob)]
    assert sorted(owners) == [0, 1]


async def test_removing_a_device_and_another_users_device_is_404(api) -> None:
    ann = (await register(api))["access_token"]
    bob = (await register(api, email="bob@example.com"))["access_token"]
    device = await register_device(api, ann)
    foreign = await api.delete(f"/api/v1/me/devices/{device['id']}", headers=bearer(bob))
    assert foreign.status == 404
    assert await error_code(foreign) == "devices.not_found"
    assert len(await devices_of(api, ann)) == 1
    response = await api.delete(f"/api/v1/me/devices/{device['id']}", headers=bearer(ann))
    assert response.status == 204
    assert await devices_of(api, ann) == []
    again = await api.delete(f"/api/v1/me/devices/{device['id']}", headers=bearer(ann))
    assert again.status == 404


async def test_ending_a_session_removes_its_devices_only(api) -> None:
    here = await register(api)
    phone = await login(api)
    await register_device(api, phone["access_token"])
    mine = await register_device(
        api, here["access_token"], platform="web", provider="fcm", push_token="web-token"
    )
    response = await api.post(
        "/api/v1/me/sessions/revoke_others", headers=bearer(here["access_token"])
    )
    assert await response.json() == {"revoked": 1}
    assert [device["id"] for device in await devices_of(api, here["access_token"])] == [mine["id"]]


async def test_devices_page_with_a_cursor_and_mark_the_current_session(api) -> None:
    here = await register(api)
    other = await login(api)
    for n in range(3):
        await register_device(
            api, other["access_token"], platform="android", provider="fcm", push_token=f"t{n}"
        )
    first = await api.get(
        "/api/v1/me/devices", params={"limit": 2}, headers=bearer(here["access_token"])
    )
    page = await first.json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    assert not any(item["current"] for item in page["items"])
    rest = await devices_of(api, here["access_token"], cursor=page["next_cursor"])
    assert len(rest) == 1


async def test_bad_device_bodies_are_refused(api) -> None:
    token = (await register(api))["access_token"]
    for body in (
        {**IPHONE, "platform": "symbian"},
        {**IPHONE, "provider": "gcm"},
        {**IPHONE, "push_token": ""},
        {**IPHONE, "push_token": "x" * 256},
        {**IPHONE, "extra": 1},
        {"platform": "ios", "provider": "apns"},
    ):
        response = await api.post("/api/v1/me/devices", json=body, headers=bearer(token))
        assert response.status == 422, body
    assert await devices_of(api, token) == []
    assert (await api.post("/api/v1/me/devices", json=IPHONE)).status == 401
