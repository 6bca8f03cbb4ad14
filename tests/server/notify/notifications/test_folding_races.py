"""First notifications of one group key at once make one row; folding holds up no other user."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from models.notify.notifications import Notification
from server.notify.notifications import folding, service
from server.runtime import Runtime
from tests.helpers.env import migrated_embedded_settings
from tests.helpers.notifications import Recorder, add_user
from tests.server.notify.notifications.test_folding import FixedClock, like, page, unread

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


def all_read_the_key_first(monkeypatch: pytest.MonkeyPatch, parties: int) -> None:
    """Each notify waits, after looking for the key's latest row, until `parties` have looked:
    all of them see no row yet, as when they arrive at the same moment."""
    barrier = asyncio.Barrier(parties)
    looked_up = folding.latest_of_group

    async def then_wait(session: Any, **kwargs: Any) -> Notification | None:
        found = await looked_up(session, **kwargs)
        await asyncio.wait_for(barrier.wait(), timeout=10)
        return found

    monkeypatch.setattr(folding, "latest_of_group", then_wait)


async def rows(runtime: Runtime, user_id: int) -> list[Notification]:
    async with runtime.db.read() as session:
        query = select(Notification).where(Notification.user_id == user_id)
        return list(await session.scalars(query.order_by(Notification.id)))


async def test_two_first_notifications_of_one_key_at_once_make_one_row_with_both(
    recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime, recorder = recorded
    runtime.clock = FixedClock(NOW)
    ann = await add_user(runtime, "ann@example.com")
    all_read_the_key_first(monkeypatch, 2)

    first, second = await asyncio.gather(like(runtime, ann, 101), like(runtime, ann, 102))

    [row] = await rows(runtime, ann)
    assert first.id == second.id == row.id
    assert row.count == 2 and set(row.actor_ids or []) == {101, 102}
    assert row.title == "2 people liked your content"
    assert row.fold_key == "like:content:7" and row.read_at is None
    [item] = await page(runtime, ann)
    assert item.actor_ids[0] == item.actor_id, "the latest actor first"
    assert await unread(runtime, ann) == 1
    kinds = [event.type for event in recorder.events]
    assert kinds == ["notification.created", "notification.updated"]
    assert {event.data["id"] for event in recorder.events} == {row.id}
    assert recorder.events[-1].data == item.model_dump(mode="json")


async def test_many_first_notifications_of_one_key_at_once_fold_into_one_row(
    recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime, recorder = recorded
    runtime.clock = FixedClock(NOW)
    ann = await add_user(runtime, "ann@example.com")
    all_read_the_key_first(monkeypatch, 5)

    made = await asyncio.gather(*(like(runtime, ann, actor) for actor in range(101, 106)))

    [row] = await rows(runtime, ann)
    assert {notification.id for notification in made} == {row.id}
    assert row.count == 5 and row.title == "5 people liked your content"
    assert sorted(row.actor_ids or []) == [101, 102, 103, 104, 105]
    kinds = sorted(event.type for event in recorder.events)
    assert kinds == ["notification.created"] + ["notification.updated"] * 4


async def test_the_same_actor_twice_at_once_notifies_once(
    recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime, recorder = recorded
    runtime.clock = FixedClock(NOW)
    ann = await add_user(runtime, "ann@example.com")
    all_read_the_key_first(monkeypatch, 2)

    await asyncio.gather(like(runtime, ann, 101), like(runtime, ann, 101))

    [row] = await rows(runtime, ann)
    assert row.count == 1 and row.actor_ids == [101] and row.title == "User 101 liked your article"
    assert [event.type for event in recorder.events] == ["notification.created"]


async def test_a_key_open_in_one_transaction_holds_up_no_other_user_or_key(recorded) -> None:
    runtime, _ = recorded
    ann = await add_user(runtime, "ann@example.com")
    bob = await add_user(runtime, "bob@example.com")
    async with runtime.db.unit_of_work() as uow:
        await service.notify(
            uow,
            user_id=ann,
            type="content.liked",
            title="liked",
            actor_id=101,
            group_key="like:content:7",
        )
        # While ann's first row of the key is uncommitted, these commit without waiting for it.
        for user_id, content_id in ((bob, 7), (ann, 8), (bob, 8)):
            made = await asyncio.wait_for(like(runtime, user_id, 102, content_id), timeout=5)
            assert made.count == 1
        # A notice without a key, too.
        await asyncio.wait_for(add_plain(runtime, ann), timeout=5)
    assert [row.count for row in await rows(runtime, ann)] == [1, 1, 1]
    assert [row.count for row in await rows(runtime, bob)] == [1, 1]


async def add_plain(runtime: Runtime, user_id: int) -> None:
    async with runtime.db.unit_of_work() as uow:
        await service.notify(uow, user_id=user_id, type="system.notice", title="Hello")


async def test_reading_a_notification_closes_it_and_a_stale_one_is_replaced(recorded) -> None:
    runtime, _ = recorded
    await closes_when_read_and_when_stale(runtime)


async def test_folding_on_sqlite(tmp_path: Path) -> None:
    runtime = await Runtime.open(await migrated_embedded_settings(tmp_path))
    recorder = Recorder()
    runtime.attach(jobs=recorder, events=recorder)
    try:
        await closes_when_read_and_when_stale(runtime)
        folds = ("notification.created", "notification.updated")
        kinds = [event.type for event in recorder.events if event.type in folds]
        assert kinds == ["notification.created", "notification.updated"] * 3
    finally:
        await runtime.close()


async def closes_when_read_and_when_stale(runtime: Runtime) -> None:
    """Open, fold, read (closed), open again, fold, past the window (replaced), fold."""
    runtime.clock = FixedClock(NOW)
    ann = await add_user(runtime, "ann@example.com")
    first = await like(runtime, ann, 101)
    assert (await like(runtime, ann, 102)).id == first.id
    async with runtime.db.unit_of_work() as uow:
        await service.mark_read(uow, user_id=ann, notification_id=first.id, now=NOW)
    second = await like(runtime, ann, 103)
    assert (await like(runtime, ann, 104)).id == second.id != first.id
    runtime.clock = FixedClock(NOW + timedelta(hours=2))
    third = await like(runtime, ann, 105)
    assert (await like(runtime, ann, 106)).id == third.id not in (first.id, second.id)
    stored = await rows(runtime, ann)
    assert [(row.count, row.fold_key) for row in stored] == [
        (2, None),
        (2, None),
        (2, "like:content:7"),
    ]
    assert [row.read_at is None for row in stored] == [False, True, True]
    async with runtime.db.unit_of_work() as uow:
        assert await service.mark_all_read(uow, user_id=ann, now=NOW) == 2
    assert all(row.fold_key is None for row in await rows(runtime, ann))
