"""notify() and the list query: the caller's transaction, the outbox, the plan, the query count."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import event, func, select, text

from models.notify.notifications import Notification
from server.notify.notifications import service
from tests.helpers.notifications import add_notifications, add_user, stored_notifications


async def count_rows(runtime: Any, user_id: int) -> int:
    async with runtime.db.sessions() as session:
        query = select(func.count()).where(Notification.user_id == user_id)
        return int(await session.scalar(query) or 0)


async def test_notify_writes_in_the_callers_transaction_and_pushes_only_after_commit(
    recorded,
) -> None:
    runtime, recorder = recorded
    ann = await add_user(runtime, "ann@example.com")

    async with runtime.db.unit_of_work() as uow:
        notification = await service.notify(
            uow,
            user_id=ann,
            type="comment.created",
            title="Bob commented",
            body="Nice post",
            data={"content_id": 9},
            actor_id=42,
        )
        assert notification.id is not None, "flushed: the id is known inside the transaction"
        assert await count_rows(runtime, ann) == 0, "invisible to others before commit"
        assert recorder.events == [], "nothing is pushed before commit"

    assert await count_rows(runtime, ann) == 1
    [pushed] = recorder.events
    assert pushed.type == "notification.created"
    assert pushed.user_ids == (ann,) and pushed.room is None
    assert pushed.dedupe_id is not None
    page = await list_page(runtime, ann, limit=10)
    assert pushed.data == page.items[0].model_dump(mode="json")
    assert pushed.data["created_at"].endswith("Z")
    assert pushed.data == {
        "id": notification.id,
        "type": "comment.created",
        "title": "Bob commented",
        "body": "Nice post",
        "data": {"content_id": 9},
        "actor_id": 42,
        "count": 1,
        "actor_ids": [42],
        "group_key": None,
        "read_at": None,
        "created_at": pushed.data["created_at"],
        "updated_at": pushed.data["created_at"],
    }


async def test_a_rolled_back_notify_leaves_no_row_and_sends_no_event(recorded) -> None:
    runtime, recorder = recorded
    ann = await add_user(runtime, "ann@example.com")

    with pytest.raises(RuntimeError):
        async with runtime.db.unit_of_work() as uow:
            await service.notify(uow, user_id=ann, type="system.notice", title="Hello")
            raise RuntimeError("the caller's change failed")

    assert await count_rows(runtime, ann) == 0
    assert recorder.events == []
    assert await runtime.relay.sweep() == 0  # type: ignore[union-attr]


async def test_notify_defaults_to_an_empty_body_and_data(recorded) -> None:
    runtime, recorder = recorded
    ann = await add_user(runtime, "ann@example.com")
    async with runtime.db.unit_of_work() as uow:
        await service.notify(uow, user_id=ann, type="system.notice", title="Hello")
    [pushed] = recorder.events
    assert pushed.data["body"] == "" and pushed.data["data"] == {}
    assert pushed.data["actor_id"] is None


async def list_page(runtime: Any, user_id: int, **options: Any) -> Any:
    async with runtime.db.sessions() as session:
        return await service.list_notifications(session, user_id=user_id, **options)


async def test_the_list_runs_one_query_whatever_the_page_size(recorded) -> None:
    runtime, _ = recorded
    ann = await add_user(runtime, "ann@example.com")
    await add_notifications(runtime, ann, 60)
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    engine = runtime.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        small = await list_page(runtime, ann, limit=5)
        small_queries = len(statements)
        statements.clear()
        large = await list_page(runtime, ann, limit=50, unread_only=True)
        large_queries = len(statements)
    finally:
        event.remove(engine, "before_cursor_execute", count)

    assert (len(small.items), len(large.items)) == (5, 50)
    assert small_queries == large_queries == 1


async def explain(runtime: Any, **options: Any) -> list[dict[str, Any]]:
    query = service.list_query(**options)
    sql = str(
        query.compile(dialect=runtime.db.engine.dialect, compile_kwargs={"literal_binds": True})
    )
    async with runtime.db.engine.connect() as conn:
        result = await conn.execute(text(f"EXPLAIN {sql}"))
        return [dict(row._mapping) for row in result]


BY_USER_ID = {"ix_notifications_user_id_id"}
BY_UNREAD = {"ix_notifications_user_id_read_at", "ix_notifications_user_id_id"}


@pytest.mark.parametrize(
    ("cursor", "unread_only", "keys"),
    [
        (None, False, BY_USER_ID),
        ("middle", False, BY_USER_ID),
        ("near_the_end", False, BY_USER_ID),
        (None, True, BY_UNREAD),
        ("middle", True, BY_UNREAD),
    ],
)
async def test_the_list_query_reads_an_index_in_order_on_mariadb(
    recorded, cursor: str | None, unread_only: bool, keys: set[str]
) -> None:
    runtime, _ = recorded
    users = [await add_user(runtime, f"u{n}@example.com") for n in range(4)]
    ids = [await stored_notifications(runtime, user, 150) for user in users]
    async with runtime.db.unit_of_work() as uow:  # some read, so unread_only has work to do
        await service.mark_all_read(uow, user_id=users[1], now=runtime.clock.now())
    await stored_notifications(runtime, users[1], 50)
    async with runtime.db.engine.connect() as conn:
        await conn.execute(text("ANALYZE TABLE notifications"))
    before = {None: None, "middle": ids[1][75], "near_the_end": ids[1][3]}[cursor]

    [plan] = await explain(
        runtime, user_id=users[1], limit=21, before=before, unread_only=unread_only
    )

    assert plan["key"] in keys, plan
    assert plan["type"] in {"ref", "range"}, plan
    assert "filesort" not in (plan["Extra"] or ""), plan


async def test_the_unread_count_reads_only_its_index_on_mariadb(recorded) -> None:
    runtime, _ = recorded
    users = [await add_user(runtime, f"u{n}@example.com") for n in range(3)]
    for user in users:
        await stored_notifications(runtime, user, 100)
    query = select(func.count()).where(
        Notification.user_id == users[0], Notification.read_at.is_(None)
    )
    sql = str(
        query.compile(dialect=runtime.db.engine.dialect, compile_kwargs={"literal_binds": True})
    )
    async with runtime.db.engine.connect() as conn:
        await conn.execute(text("ANALYZE TABLE notifications"))
        [plan] = [dict(r._mapping) for r in await conn.execute(text(f"EXPLAIN {sql}"))]
    assert plan["key"] == "ix_notifications_user_id_read_at", plan
    assert "Using index" in (plan["Extra"] or ""), plan


async def test_the_welcome_notification_is_sent_once_however_often_it_is_asked_for(
    recorded,
) -> None:
    runtime, recorder = recorded
    ann = await add_user(runtime, "ann@example.com")

    async def welcome() -> Any:
        async with runtime.db.unit_of_work() as uow:
            return await service.send_welcome(uow, user_id=ann)

    first, second = await asyncio.gather(welcome(), welcome())
    third = await welcome()

    assert [n is not None for n in (first, second)].count(True) == 1
    assert third is None
    page = await list_page(runtime, ann, limit=10)
    assert [item.type for item in page.items] == ["system.welcome"]
    assert [e.type for e in recorder.events] == ["notification.created"]


async def test_the_welcome_notification_of_a_missing_user_is_skipped(recorded) -> None:
    runtime, recorder = recorded
    async with runtime.db.unit_of_work() as uow:
        assert await service.send_welcome(uow, user_id=987654) is None
    assert recorder.events == []


async def test_marking_read_pushes_to_the_users_devices_once(recorded) -> None:
    runtime, recorder = recorded
    ann = await add_user(runtime, "ann@example.com")
    [first, second] = await add_notifications(runtime, ann, 2)
    recorder.events.clear()
    now = runtime.clock.now()

    for _ in range(2):
        async with runtime.db.unit_of_work() as uow:
            read = await service.mark_read(uow, user_id=ann, notification_id=first, now=now)
            assert read.read_at == now

    assert [(e.type, e.data, e.user_ids) for e in recorder.events] == [
        ("notification.read", {"id": first}, (ann,))
    ]
    recorder.events.clear()
    for _ in range(2):
        async with runtime.db.unit_of_work() as uow:
            await service.mark_all_read(uow, user_id=ann, now=now)
    [read_all] = recorder.events
    assert read_all.type == "notification.read_all" and read_all.user_ids == (ann,)
    assert read_all.data["updated"] == 1 and read_all.data["read_at"].endswith("Z")
    assert second not in (e.data.get("id") for e in recorder.events)


async def test_marking_a_foreign_notification_changes_nothing_and_sends_nothing(recorded) -> None:
    runtime, recorder = recorded
    ann, bob = await add_user(runtime, "ann@example.com"), await add_user(runtime, "b@example.com")
    [mine] = await add_notifications(runtime, ann, 1)
    recorder.events.clear()
    with pytest.raises(service.NotificationNotFound):
        async with runtime.db.unit_of_work() as uow:
            await service.mark_read(uow, user_id=bob, notification_id=mine, now=runtime.clock.now())
    assert recorder.events == []
    async with runtime.db.sessions() as session:
        assert await service.unread_count(session, user_id=ann) == 1
