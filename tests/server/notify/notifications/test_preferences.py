"""Per-type preferences: the API, and notify() honouring each channel."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from models.notify.notifications import Notification
from models.notify.push import NotificationPreference, PushDevice
from server.notify.notifications import service, types
from tests.helpers.notifications import add_user
from tests.helpers.people import call, person

PREFS = "/me/notification-preferences"


def by_type(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["type"]: item for item in body["items"]}


async def test_every_type_is_listed_with_its_defaults(api) -> None:
    ann = await person(api)
    items = by_type(await call(api, "GET", PREFS, ann, 200))
    assert set(items) == set(types.TYPES)
    assert items["comment.reply"] | {"description": ""} == {
        "type": "comment.reply",
        "description": "",
        "in_app": True,
        "push": True,
        "email": False,
        "required": False,
        "customised": False,
    }
    assert items["order.paid"]["email"] and items["order.paid"]["required"]


async def test_put_changes_only_the_channels_given_and_is_mine_alone(api) -> None:
    ann, bob = await person(api), await person(api)
    body = {"items": [{"type": "content.liked", "in_app": False, "push": True}]}
    items = by_type(await call(api, "PUT", PREFS, ann, 200, json=body))
    assert items["content.liked"]["in_app"] is False and items["content.liked"]["push"] is True
    assert items["content.liked"]["email"] is False and items["content.liked"]["customised"]
    again = {"items": [{"type": "content.liked", "email": True}]}
    items = by_type(await call(api, "PUT", PREFS, ann, 200, json=again))
    liked = items["content.liked"]
    assert (liked["in_app"], liked["push"], liked["email"]) == (False, True, True)
    assert by_type(await call(api, "GET", PREFS, ann, 200))["content.liked"] == liked
    theirs = by_type(await call(api, "GET", PREFS, bob, 200))["content.liked"]
    assert theirs["in_app"] is True and not theirs["customised"]


async def test_bad_preferences_are_422_and_change_nothing(api) -> None:
    ann = await person(api)
    bad = [
        {"items": [{"type": "no.such", "push": True}]},
        {"items": [{"type": "comment.reply", "push": False}, {"type": "comment.reply"}]},
        {"items": [{"type": "order.paid", "in_app": False}]},
        {"items": []},
        {"items": [{"type": "comment.reply", "push": "maybe"}]},
        {"items": [{"type": "comment.reply", "push": 0}]},
        {"items": [{"type": "comment.reply", "email": "false"}]},
        {"items": [{"type": "comment.reply", "sms": True}]},
        {"preferences": []},
    ]
    for body in bad:
        error = await call(api, "PUT", PREFS, ann, 422, json=body)
        assert error["error"]["code"] in (
            "notifications.preferences_invalid",
            "request.validation",
        ), error
    mixed = {"items": [{"type": "comment.reply", "push": False}, {"type": "no.such"}]}
    error = await call(api, "PUT", PREFS, ann, 422, json=mixed)
    assert error["error"]["fields"] == {"items.1.type": "Not a notification type."}
    items = by_type(await call(api, "GET", PREFS, ann, 200))
    assert items["comment.reply"]["push"] is True, "all or nothing"
    assert not any(item["customised"] for item in items.values())
    await call(api, "GET", PREFS, None, 401)


async def set_prefs(runtime: Any, user_id: int, type: str, **channels: bool) -> None:
    async with runtime.db.unit_of_work() as uow:
        values = {"in_app": True, "push": False, "email": False, **channels}
        uow.session.add(NotificationPreference(user_id=user_id, type=type, **values))


async def add_device(runtime: Any, user_id: int, token: str = "tok-apns-0001") -> None:
    async with runtime.db.unit_of_work() as uow:
        uow.session.add(PushDevice(user_id=user_id, provider="apns", token=token, platform="ios"))


async def rows_of(runtime: Any, user_id: int) -> int:
    async with runtime.db.read() as session:
        query = select(func.count()).where(Notification.user_id == user_id)
        return int(await session.scalar(query) or 0)


async def notify(runtime: Any, user_id: int, type: str = "comment.reply") -> Notification | None:
    async with runtime.db.unit_of_work() as uow:
        return await service.notify(uow, user_id=user_id, type=type, title="Hi", body="There")


async def test_in_app_off_stores_nothing_and_sends_no_live_event(recorded) -> None:
    runtime, recorder = recorded
    ann = await add_user(runtime, "ann@example.com")
    await set_prefs(runtime, ann, "comment.reply", in_app=False)
    assert await notify(runtime, ann) is None
    assert await rows_of(runtime, ann) == 0
    assert recorder.events == [] and recorder.jobs == []


async def test_push_goes_to_the_push_job_only_with_a_device_and_when_on(recorded) -> None:
    runtime, recorder = recorded
    ann = await add_user(runtime, "ann@example.com")
    await notify(runtime, ann)
    assert recorder.jobs == [], "push is on by default, but there is no device"
    await add_device(runtime, ann)
    notification = await notify(runtime, ann)
    assert notification is not None
    [job] = recorder.jobs
    assert job.task == "push.send" and job.job_id == f"push:notification:{notification.id}"
    assert job.kwargs == {
        "user_id": ann,
        "ref": f"notification:{notification.id}",
        "title": "Hi",
        "body": "There",
        "data": {"type": "comment.reply"},
    }
    await set_prefs(runtime, ann, "comment.reply", push=False)
    recorder.jobs.clear()
    await notify(runtime, ann)
    assert recorder.jobs == []


async def test_push_without_in_app_still_pushes_and_message_types_store_no_row(recorded) -> None:
    runtime, recorder = recorded
    ann = await add_user(runtime, "ann@example.com")
    await add_device(runtime, ann)
    await set_prefs(runtime, ann, "comment.reply", in_app=False, push=True)
    assert await notify(runtime, ann) is None
    assert await notify(runtime, ann, "message.created") is None
    assert await rows_of(runtime, ann) == 0 and recorder.events == []
    assert [job.task for job in recorder.jobs] == ["push.send", "push.send"]
    assert len({job.job_id for job in recorder.jobs}) == 2


async def test_email_on_enqueues_the_mail_job_and_required_types_stay_in_the_app(
    recorded,
) -> None:
    runtime, recorder = recorded
    ann = await add_user(runtime, "ann@example.com")
    await set_prefs(runtime, ann, "order.paid", in_app=False, email=True)
    notification = await notify(runtime, ann, "order.paid")
    assert notification is not None, "order.paid cannot be turned off in the app"
    [job] = recorder.jobs
    assert job.task == "notifications.email"
    assert job.kwargs == {"user_id": ann, "subject": "Hi", "text": "There"}
    await set_prefs(runtime, ann, "comment.reply", email=False)
    recorder.jobs.clear()
    await notify(runtime, ann)
    assert recorder.jobs == []
