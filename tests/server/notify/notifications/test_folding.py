"""Bursts with one group key fold into one unread notification; repeats and sources notify once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from server.notify.notifications import service
from tests.helpers.notifications import add_user
from tests.helpers.people import call, person

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self.at = now

    def now(self) -> datetime:
        return self.at


async def like(runtime: Any, user_id: int, actor_id: int, content_id: int = 7) -> Any:
    async with runtime.db.unit_of_work() as uow:
        return await service.notify(
            uow,
            user_id=user_id,
            type="content.liked",
            title=f"User {actor_id} liked your article",
            data={"content_id": content_id},
            actor_id=actor_id,
            group_key=f"like:content:{content_id}",
        )


async def unread(runtime: Any, user_id: int) -> int:
    async with runtime.db.read() as session:
        return await service.unread_count(session, user_id=user_id)


async def page(runtime: Any, user_id: int) -> list[Any]:
    async with runtime.db.read() as session:
        return (await service.list_notifications(session, user_id=user_id, limit=50)).items


async def test_a_burst_folds_into_one_unread_notification_with_count_and_latest_actors(
    recorded,
) -> None:
    runtime, recorder = recorded
    runtime.clock = FixedClock(NOW)
    ann = await add_user(runtime, "ann@example.com")
    first = await like(runtime, ann, 101)
    for n, actor in enumerate(range(102, 113)):
        runtime.clock = FixedClock(NOW + timedelta(minutes=n))
        folded = await like(runtime, ann, actor)
        assert folded.id == first.id
    [item] = await page(runtime, ann)
    assert item.id == first.id and item.count == 12
    assert item.title == "12 people liked your content"
    assert item.actor_ids == [112, 111, 110, 109, 108], "the latest five, newest first"
    assert item.actor_id == 112 and item.group_key == "like:content:7"
    assert item.updated_at == NOW + timedelta(minutes=10)
    assert await unread(runtime, ann) == 1
    kinds = [event.type for event in recorder.events]
    assert kinds == ["notification.created"] + ["notification.updated"] * 11
    assert recorder.events[-1].data == item.model_dump(mode="json")
    assert {event.data["id"] for event in recorder.events} == {first.id}
    other = await like(runtime, ann, 101, content_id=8)
    assert other.id != first.id, "another key is another notification"
    assert await unread(runtime, ann) == 2


async def test_a_read_or_old_notification_is_not_folded_into(recorded) -> None:
    runtime, _ = recorded
    runtime.clock = FixedClock(NOW)
    ann = await add_user(runtime, "ann@example.com")
    first = await like(runtime, ann, 101)
    async with runtime.db.unit_of_work() as uow:
        await service.mark_read(uow, user_id=ann, notification_id=first.id, now=NOW)
    second = await like(runtime, ann, 102)
    assert second.id != first.id and await unread(runtime, ann) == 1
    runtime.clock = FixedClock(NOW + timedelta(hours=1, seconds=1))
    third = await like(runtime, ann, 103)
    assert third.id not in (first.id, second.id), "past the window: a new notification"
    assert [item.count for item in await page(runtime, ann)] == [1, 1, 1]


async def test_the_same_actor_again_within_the_window_notifies_nobody(recorded) -> None:
    runtime, recorder = recorded
    runtime.clock = FixedClock(NOW)
    ann = await add_user(runtime, "ann@example.com")
    first = await like(runtime, ann, 101)
    async with runtime.db.unit_of_work() as uow:
        await service.mark_read(uow, user_id=ann, notification_id=first.id, now=NOW)
    recorder.events.clear()
    again = await like(runtime, ann, 101)
    assert again.id == first.id and recorder.events == [] and recorder.jobs == []
    [item] = await page(runtime, ann)
    assert item.count == 1 and await unread(runtime, ann) == 0


async def test_a_source_notifies_a_user_once(recorded) -> None:
    runtime, recorder = recorded
    ann = await add_user(runtime, "ann@example.com")
    ids = set()
    for _ in range(2):
        async with runtime.db.unit_of_work() as uow:
            made = await service.notify(
                uow, user_id=ann, type="system.announcement", title="Hi", source="announcement:1"
            )
            ids.add(made.id)
    assert len(ids) == 1 and len(recorder.events) == 1


async def test_follow_unfollow_follow_notifies_once_and_new_followers_fold(api) -> None:
    ann, bob, cat, star = [await person(api) for _ in range(4)]
    for _ in range(3):
        await call(api, "POST", f"/users/{star.id}/follow", ann, 200)
        await call(api, "DELETE", f"/users/{star.id}/follow", ann, 200)
    await call(api, "POST", f"/users/{star.id}/follow", bob, 200)
    await call(api, "POST", f"/users/{star.id}/follow", cat, 200)
    [item] = (await call(api, "GET", "/notifications", star, 200))["items"]
    assert item["type"] == "follow.created" and item["count"] == 3
    assert item["title"] == "3 people started following you"
    assert item["actor_ids"] == [cat.id, bob.id, ann.id]
    assert (await call(api, "GET", "/notifications/unread_count", star, 200))["unread"] == 1
