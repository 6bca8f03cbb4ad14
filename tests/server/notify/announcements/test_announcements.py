"""Announcements: the admin API, fan-out in batches by a real arq worker, idempotent re-runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import event, func, select, update

from jobs import push as push_jobs
from jobs.sinks import ArqJobSink
from models.audit import AdminLog
from models.identity.users import User
from models.notify.announcements import Announcement
from models.notify.notifications import Notification
from models.notify.push import NotificationPreference, PushDevice
from server.keys import RUNTIME
from server.notify.announcements import service
from server.notify.announcements.schemas import AnnouncementIn
from server.runtime import Runtime
from server.settings import Settings
from tests.helpers.notifications import Recorder
from tests.helpers.people import call, person
from tests.jobs.test_worker import RecordingEvents, run_burst

pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")

ADMIN_PATH = "/admin/announcements"


async def test_an_admin_announces_and_sees_progress_others_cannot(api) -> None:
    admin, reader = await person(api, "admin"), await person(api)
    body = {"title": "Maintenance", "body": "Tonight 2:00-3:00", "segment": {"kind": "all"}}
    made = await call(api, "POST", ADMIN_PATH, admin, 201, json=body)
    assert made["status"] == "sending" and made["segment"] == {"kind": "all"}
    assert made["created_by"] == admin.id
    detail = await call(api, "GET", f"{ADMIN_PATH}/{made['id']}", admin, 200)
    assert detail["recipients"] == 2 and detail["id"] == made["id"]
    listed = await call(api, "GET", ADMIN_PATH, admin, 200)
    assert [item["id"] for item in listed["items"]] == [made["id"]]
    for method, path in (("GET", ADMIN_PATH), ("GET", f"{ADMIN_PATH}/{made['id']}")):
        await call(api, method, path, reader, 403)
    await call(api, "POST", ADMIN_PATH, reader, 403, json=body)
    await call(api, "POST", ADMIN_PATH, None, 401, json=body)
    await call(api, "GET", f"{ADMIN_PATH}/999999", admin, 404)
    async with api.app[RUNTIME].db.read() as session:
        [log] = await session.scalars(
            select(AdminLog).where(AdminLog.action == "announcement.create")
        )
    assert (log.admin_id, log.target_type, log.target_id) == (admin.id, "announcement", made["id"])


async def test_bad_announcements_are_422_and_store_nothing(api) -> None:
    admin = await person(api, "admin")
    ok = {"title": "T", "body": "B", "segment": {"kind": "all"}}
    for bad in (
        {**ok, "title": ""},
        {**ok, "title": "x" * 201},
        {**ok, "body": ""},
        {**ok, "segment": {"kind": "everyone"}},
        {**ok, "segment": {"kind": "role"}},
        {**ok, "segment": {"kind": "role", "role": "pilot"}},
        {**ok, "segment": {"kind": "all", "role": "admin"}},
        {**ok, "segment": {"kind": "users"}},
        {**ok, "segment": {"kind": "users", "user_ids": []}},
        {**ok, "segment": {"kind": "users", "user_ids": [0]}},
        {**ok, "extra": True},
        {"title": "T", "body": "B"},
    ):
        await call(api, "POST", ADMIN_PATH, admin, 422, json=bad)
    await call(api, "GET", f"{ADMIN_PATH}/0", admin, 422)
    await call(api, "GET", f"{ADMIN_PATH}?cursor=nope", admin, 400)
    assert (await call(api, "GET", ADMIN_PATH, admin, 200))["items"] == []


# --- fan-out through a real worker ----------------------------------------------------------


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    runtime = await Runtime.open(settings.model_copy(update={"announcement_batch_size": 3}))
    assert runtime.redis is not None
    runtime.attach(jobs=ArqJobSink(runtime.redis, runtime.settings), events=RecordingEvents())
    yield runtime
    await runtime.close()


async def add_users(runtime: Runtime, count: int, *roles: str, status: str = "active") -> list[int]:
    async with runtime.db.unit_of_work() as uow:
        users = [
            User(
                email=None,
                password_hash="x",
                nickname=f"u{n}",
                roles=["reader", *roles],
                status=status,
            )
            for n in range(count)
        ]
        uow.session.add_all(users)
        await uow.session.flush()
        return [user.id for user in users]


async def announce(runtime: Runtime, admin_id: int, segment: dict[str, Any]) -> int:
    body = AnnouncementIn.model_validate({"title": "Hello", "body": "News", "segment": segment})
    async with runtime.db.unit_of_work() as uow:
        made = await service.create(
            uow, admin_id=admin_id, body=body, ip=None, now=runtime.clock.now()
        )
    return made.id


async def notified(runtime: Runtime, announcement_id: int) -> list[int]:
    async with runtime.db.read() as session:
        rows = await session.scalars(
            select(Notification.user_id)
            .where(Notification.source == f"announcement:{announcement_id}")
            .order_by(Notification.user_id)
        )
        return list(rows)


async def state(runtime: Runtime, announcement_id: int) -> Announcement:
    async with runtime.db.read() as session:
        row = await session.get(Announcement, announcement_id)
        assert row is not None
        return row


async def test_fan_out_goes_in_batches_each_its_own_job_and_reaches_everyone_once(
    runtime, redis
) -> None:
    [admin] = await add_users(runtime, 1, "admin")
    readers = await add_users(runtime, 7)
    await add_users(runtime, 1, status="banned")
    announcement_id = await announce(runtime, admin, {"kind": "all"})
    worker = await run_burst(runtime.settings, {"runtime": runtime})
    assert worker.jobs_complete == 3 and worker.jobs_failed == 0, "8 users, batches of 3"
    assert await notified(runtime, announcement_id) == sorted([admin, *readers])
    row = await state(runtime, announcement_id)
    assert (row.status, row.sent_count, row.batches) == ("sent", 8, 3)
    assert row.finished_at is not None
    async with runtime.db.read() as session:
        [(kind, data)] = (
            await session.execute(
                select(Notification.type, Notification.data).where(
                    Notification.user_id == readers[0]
                )
            )
        ).all()
    assert kind == "system.announcement" and data == {"announcement_id": announcement_id}

    # A re-run of a finished fan-out, and a resumed one from the start, notify nobody twice.
    ctx = {"runtime": runtime}
    assert await push_jobs.fan_out(ctx, announcement_id=announcement_id) == 0
    async with runtime.db.unit_of_work() as uow:
        await uow.session.execute(
            update(Announcement)
            .where(Announcement.id == announcement_id)
            .values(status="sending", cursor=0)
        )
    for _ in range(3):
        assert await push_jobs.fan_out(ctx, announcement_id=announcement_id) == 0
    assert await notified(runtime, announcement_id) == sorted([admin, *readers])
    assert (await state(runtime, announcement_id)).sent_count == 8
    assert await push_jobs.fan_out(ctx, announcement_id=999_999) == 0


async def test_segments_pick_their_accounts(runtime, redis) -> None:
    [admin] = await add_users(runtime, 1, "admin")
    creators = await add_users(runtime, 4, "creator")
    readers = await add_users(runtime, 2)
    [gone] = await add_users(runtime, 1, "creator", status="deleted")
    to_creators = await announce(runtime, admin, {"kind": "creators"})
    to_admins = await announce(runtime, admin, {"kind": "role", "role": "admin"})
    listed = await announce(
        runtime, admin, {"kind": "users", "user_ids": [readers[1], creators[0], gone]}
    )
    await run_burst(runtime.settings, {"runtime": runtime})
    assert await notified(runtime, to_creators) == creators
    assert await notified(runtime, to_admins) == [admin]
    assert await notified(runtime, listed) == sorted([readers[1], creators[0]])
    async with runtime.db.read() as session:
        total = await session.scalar(select(func.count()).select_from(Notification))
    assert total == 4 + 1 + 2


async def statements_of_one_batch(runtime: Runtime, announcement_id: int) -> int:
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    engine = runtime.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        await push_jobs.fan_out({"runtime": runtime}, announcement_id=announcement_id)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len([s for s in seen if not s.lstrip().upper().startswith("INSERT INTO OUTBOX")])


async def test_a_batch_costs_the_same_queries_whatever_its_size_and_honours_preferences(
    settings: Settings,
) -> None:
    recorder = Recorder()
    counts = []
    for size in (2, 6):
        runtime = await Runtime.open(settings.model_copy(update={"announcement_batch_size": size}))
        runtime.attach(jobs=recorder, events=recorder)
        try:
            [admin] = await add_users(runtime, 1, "admin")
            users = await add_users(runtime, 6)
            async with runtime.db.unit_of_work() as uow:
                uow.session.add(
                    PushDevice(
                        user_id=users[0], provider="apns", token=f"tok{size}" * 4, platform="ios"
                    )
                )
                uow.session.add(
                    NotificationPreference(
                        user_id=users[1],
                        type="system.announcement",
                        in_app=True,
                        push=False,
                        email=True,
                    )
                )
            announcement_id = await announce(runtime, admin, {"kind": "users", "user_ids": users})
            recorder.jobs.clear()
            counts.append(await statements_of_one_batch(runtime, announcement_id))
            if size == 6:
                tasks = sorted(
                    (job.task, job.kwargs["user_id"])
                    for job in recorder.jobs
                    if job.task != "announcements.fan_out"
                )
                assert tasks == [("notifications.email", users[1]), ("push.send", users[0])]
        finally:
            await runtime.close()
    assert counts[0] == counts[1], counts
