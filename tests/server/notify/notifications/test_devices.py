"""Push devices: register, list, unregister; another user's device or notification is 404."""

from __future__ import annotations

from server.notify.notifications import devices
from tests.helpers.people import call, person

DEVICES = "/me/push-devices"
APNS = {"provider": "apns", "token": "a" * 64, "platform": "ios", "app_version": "3.2.1"}


async def test_register_list_refresh_and_unregister(api) -> None:
    ann = await person(api)
    made = await call(api, "POST", DEVICES, ann, 201, json=APNS)
    assert made["provider"] == "apns" and made["token_suffix"] == "aaaaaa"
    assert made["disabled_at"] is None and "token" not in made
    again = await call(api, "POST", DEVICES, ann, 201, json={**APNS, "app_version": "3.3"})
    assert again["id"] == made["id"] and again["app_version"] == "3.3"
    fcm = {"provider": "fcm", "token": "f:" + "b" * 100, "platform": "android"}
    other = await call(api, "POST", DEVICES, ann, 201, json=fcm)
    listed = await call(api, "GET", DEVICES, ann, 200)
    assert [item["id"] for item in listed["items"]] == [other["id"], made["id"]]
    first = await call(api, "GET", f"{DEVICES}?limit=1", ann, 200)
    assert [item["id"] for item in first["items"]] == [other["id"]] and first["next_cursor"]
    await call(api, "DELETE", f"{DEVICES}/{made['id']}", ann, 204)
    await call(api, "DELETE", f"{DEVICES}/{made['id']}", ann, 404)
    listed = await call(api, "GET", DEVICES, ann, 200)
    assert [item["id"] for item in listed["items"]] == [other["id"]]


async def test_another_users_devices_and_notifications_are_404_and_unseen(api) -> None:
    ann, bob = await person(api), await person(api)
    made = await call(api, "POST", DEVICES, ann, 201, json=APNS)
    error = await call(api, "DELETE", f"{DEVICES}/{made['id']}", bob, 404)
    assert error["error"]["code"] == "push.device_not_found"
    assert (await call(api, "GET", DEVICES, bob, 200))["items"] == []
    assert len((await call(api, "GET", DEVICES, ann, 200))["items"]) == 1
    # Bob follows Ann: Ann has a notification Bob can neither read nor mark.
    await call(api, "POST", f"/users/{ann.id}/follow", bob, 200)
    [notice] = (await call(api, "GET", "/notifications", ann, 200))["items"]
    assert (await call(api, "GET", "/notifications", bob, 200))["items"] == []
    error = await call(api, "POST", f"/notifications/{notice['id']}/read", bob, 404)
    assert error["error"]["code"] == "notifications.not_found"
    assert (await call(api, "POST", "/notifications/read_all", bob, 200))["updated"] == 0
    assert (await call(api, "GET", "/notifications/unread_count", ann, 200))["unread"] == 1
    await call(api, "GET", DEVICES, None, 401)


async def test_a_token_registered_by_another_account_moves_to_the_new_one(api) -> None:
    ann, bob = await person(api), await person(api)
    made = await call(api, "POST", DEVICES, ann, 201, json=APNS)
    moved = await call(api, "POST", DEVICES, bob, 201, json=APNS)
    assert moved["id"] == made["id"]
    assert (await call(api, "GET", DEVICES, ann, 200))["items"] == []
    assert [d["id"] for d in (await call(api, "GET", DEVICES, bob, 200))["items"]] == [made["id"]]


async def test_bad_devices_are_4xx_and_store_nothing(api) -> None:
    ann = await person(api)
    for body in (
        {**APNS, "provider": "wns"},
        {**APNS, "token": "short"},
        {**APNS, "token": "x" * 256},
        {**APNS, "token": "has spaces in it"},
        {**APNS, "platform": "symbian"},
        {**APNS, "app_version": "9" * 33},
        {**APNS, "extra": 1},
        {"provider": "apns"},
    ):
        await call(api, "POST", DEVICES, ann, 422, json=body)
    headers = ann.headers | {"Content-Type": "application/json"}
    response = await api.post(f"/api/v1{DEVICES}", data="{not json", headers=headers)
    assert response.status == 400
    await call(api, "DELETE", f"{DEVICES}/0", ann, 422)
    await call(api, "DELETE", f"{DEVICES}/abc", ann, 422)
    await call(api, "GET", f"{DEVICES}?cursor=zzz", ann, 400)
    assert (await call(api, "GET", DEVICES, ann, 200))["items"] == []


async def test_past_the_cap_the_least_recently_seen_device_is_disabled(api, monkeypatch) -> None:
    monkeypatch.setattr(devices, "MAX_ACTIVE_DEVICES", 2)
    ann = await person(api)
    made = []
    for n in range(3):
        body = {**APNS, "token": f"token-{n:04d}-" + "c" * 20}
        made.append(await call(api, "POST", DEVICES, ann, 201, json=body))
    listed = {d["id"]: d for d in (await call(api, "GET", DEVICES, ann, 200))["items"]}
    assert listed[made[0]["id"]]["disabled_reason"] == "replaced"
    assert [listed[d["id"]]["disabled_at"] is None for d in made[1:]] == [True, True]
