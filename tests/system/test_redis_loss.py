"""A Redis restarted empty loses no refund, announcement, upload or avatar: the recovery sweeps
(jobs/recovery.py) find the work left unfinished in the database and queue it again, and the
avatar's outbox row, kept until its job is done, is sent again.

The test runs its own redis-server without persistence on a free port. The jobs are queued
while no worker runs (their outbox rows are relayed and deleted, so they live only in Redis);
that Redis is then killed and started again empty, and only then do the workers start. Each
refund, announcement batch and upload still completes, once.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from jobs.sinks import queue_names
from models.commerce.ledger import LedgerTransaction
from models.commerce.payments import Refund
from models.content.media import Media
from models.identity.users import User
from models.notify.announcements import Announcement
from models.notify.notifications import Notification
from models.platform import OutboxMessage
from server.content.media import service as media_service
from server.identity.auth import service as auth_service
from server.identity.users import avatars
from server.identity.users import service as users
from server.notify.announcements import service as announcements
from server.notify.announcements.schemas import AnnouncementIn, Segment
from server.runtime import Runtime
from server.settings import Settings
from tests.conftest import make_settings, relaying_runtime
from tests.fakes.alipay import FakeAlipay
from tests.invariants import assert_money_invariants
from tests.server.identity.users.images import image_bytes
from tests.system.harness import (
    ProcessGroup,
    WorkerProcess,
    environment,
    eventually,
    free_port,
)
from tests.system.payments import Events, paid_order_with_refund

REDIS_SERVER = shutil.which("redis-server")
pytestmark = pytest.mark.skipif(REDIS_SERVER is None, reason="needs redis-server")

# Work untouched this long is queued again; the sweeps run once a minute.
RECOVERY_AFTER = 2
WITHIN = 150.0


class PrivateRedis:
    """A redis-server of this test alone, with nothing kept on disk: a restart starts empty."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._workdir = workdir
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        assert REDIS_SERVER is not None
        self._workdir.mkdir(parents=True, exist_ok=True)
        self._process = await asyncio.create_subprocess_exec(
            *[REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1"],
            *["--save", "", "--appendonly", "no", "--dir", str(self._workdir)],
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        client = Redis.from_url(self.url)
        try:
            for _ in range(100):
                try:
                    if await client.ping():
                        return
                except (OSError, RedisError):
                    await asyncio.sleep(0.1)
            raise AssertionError("the private redis-server did not start")
        finally:
            await client.aclose()

    async def kill(self) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.kill()
            await self._process.wait()
        self._process = None


@pytest.fixture
async def private_redis(tmp_path: Path) -> AsyncIterator[PrivateRedis]:
    server = PrivateRedis(tmp_path / "redis")
    await server.start()
    yield server
    await server.kill()


@pytest.fixture
def overrides(private_redis: PrivateRedis, alipay: FakeAlipay, tmp_path: Path) -> dict[str, Any]:
    """What the web side and the workers share: the private Redis, Alipay, the file store."""
    return {
        "redis_url": private_redis.url,
        "storage_dir": tmp_path / "files",
        "job_recovery_after_seconds": RECOVERY_AFTER,
        "announcement_batch_size": 2,
        **alipay.settings(),
    }


@pytest.fixture
async def runtime(database_url: str, overrides: dict[str, Any]) -> AsyncIterator[Runtime]:
    """The web side: services commit, the relay hands their jobs to arq on the private Redis."""
    settings = make_settings(database_url=database_url, **overrides)
    async with relaying_runtime(settings, Events()) as runtime:
        yield runtime


async def one_chunk(data: bytes) -> AsyncIterable[bytes]:
    yield data


async def an_announcement(runtime: Runtime, admin_id: int) -> tuple[int, list[int]]:
    """An announcement to three listed readers (two batches): its id and theirs."""
    readers = []
    for n in range(3):
        async with runtime.db.unit_of_work() as uow:
            readers.append(
                await auth_service.create_user(
                    uow.session,
                    runtime.pii,
                    email=f"reader{n}@example.com",
                    phone=None,
                    password=None,
                    nickname=None,
                )
            )
    body = AnnouncementIn(
        title="维护", body="今晚维护", segment=Segment(kind="users", user_ids=readers)
    )
    async with runtime.db.unit_of_work() as uow:
        out = await announcements.create(
            uow, admin_id=admin_id, body=body, ip=None, now=runtime.clock.now()
        )
    return out.id, readers


async def an_upload(runtime: Runtime, owner_id: int) -> int:
    key, size, inspected = await media_service.receive_upload(
        runtime.storage,
        runtime.settings,
        owner_id=owner_id,
        kind="image",
        chunks=one_chunk(image_bytes("PNG")),
    )
    async with runtime.db.unit_of_work() as uow:
        out = await media_service.create_media(
            uow,
            owner_id=owner_id,
            kind="image",
            key=key,
            size=size,
            name="photo.png",
            inspected=inspected,
            now=runtime.clock.now(),
        )
    return out.id


async def an_avatar(runtime: Runtime, user_id: int) -> None:
    key = await avatars.receive_avatar(
        runtime.storage,
        user_id=user_id,
        chunks=one_chunk(image_bytes("PNG")),
        max_bytes=runtime.settings.avatar_max_bytes,
        max_pixels=runtime.settings.avatar_max_pixels,
    )
    async with runtime.db.unit_of_work() as uow:
        users.queue_avatar(uow, user_id=user_id, key=key)


async def queued(url: str, settings: Settings) -> int:
    client = Redis.from_url(url)
    try:
        return sum([await client.zcard(queue) for queue in set(queue_names(settings).values())])
    finally:
        await client.aclose()


async def start_worker(
    processes: ProcessGroup, env: dict[str, str], redis: Redis, settings_class: str
) -> None:
    process = WorkerProcess(
        processes.name("worker"), env, processes.log_dir, redis=redis, settings_class=settings_class
    )
    await processes.start(process, within=60)


async def test_work_queued_in_a_redis_restarted_empty_is_still_done_once(
    processes: ProcessGroup,
    system_settings: dict[str, Any],
    overrides: dict[str, Any],
    private_redis: PrivateRedis,
    runtime: Runtime,
    alipay: FakeAlipay,
    engine: AsyncEngine,
) -> None:
    order_id, refund_id = await paid_order_with_refund(runtime, alipay)
    async with runtime.db.read() as session:
        buyer_id = (await session.get(Refund, refund_id)).requested_by  # type: ignore[union-attr]
    assert buyer_id is not None
    announcement_id, readers = await an_announcement(runtime, buyer_id)
    media_id = await an_upload(runtime, buyer_id)
    await an_avatar(runtime, buyer_id)
    async with runtime.db.read() as session:
        left = (await session.scalars(select(OutboxMessage.name))).all()
    assert left == [users.AVATAR_TASK], "the rest was handed to Redis: only the rows remember it"
    assert await queued(private_redis.url, runtime.settings) >= 4

    await private_redis.kill()
    await private_redis.start()
    assert await queued(private_redis.url, runtime.settings) == 0

    env = environment({**system_settings, **overrides})
    check = Redis.from_url(private_redis.url)
    try:
        await start_worker(processes, env, check, "WorkerSettings")
        await start_worker(processes, env, check, "MediaWorkerSettings")
        await eventually(
            lambda: all_done(runtime, refund_id, announcement_id, media_id, buyer_id),
            within=WITHIN,
            what="the refund, the announcement, the upload and the avatar finished",
        )
    finally:
        await check.aclose()

    async with runtime.db.read() as session:
        reversals = await session.scalar(
            select(func.count())
            .select_from(LedgerTransaction)
            .where(LedgerTransaction.reference.like(f"order:{order_id}:%"))
        )
        told = (
            await session.execute(
                select(Notification.user_id, func.count())
                .where(Notification.type == announcements.TYPE)
                .group_by(Notification.user_id)
            )
        ).all()
        media = await session.get(Media, media_id)
    assert len(alipay.refunds) == 1 and reversals == 1
    assert sorted(told) == [(reader, 1) for reader in sorted(readers)]
    assert media is not None and media.variants
    await assert_money_invariants(engine)


async def all_done(
    runtime: Runtime, refund_id: int, announcement_id: int, media_id: int, user_id: int
) -> bool:
    async with runtime.db.read() as session:
        refund = await session.get(Refund, refund_id, populate_existing=True)
        announcement = await session.get(Announcement, announcement_id, populate_existing=True)
        media = await session.get(Media, media_id, populate_existing=True)
        avatar = await session.scalar(select(User.avatar_url).where(User.id == user_id))
        kept = await session.scalar(select(func.count()).select_from(OutboxMessage))
    return (
        avatar is not None
        and kept == 0
        and refund is not None
        and refund.status == "succeeded"
        and announcement is not None
        and announcement.status == "sent"
        and media is not None
        and media.status == "ready"
    )
