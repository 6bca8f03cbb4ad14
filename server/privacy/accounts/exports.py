"""Exports of a user's own data: requested by the user, built by a job into a ZIP of JSON files,
downloaded through a signed link bound to the owner, and removed when they expire."""

from __future__ import annotations

import asyncio
import io
import zipfile
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, cast

import orjson
from sqlalchemy import CursorResult, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.identity.users import User
from models.privacy.exports import DataExport
from server.clock import Clock
from server.crypto import PiiCipher
from server.db import Database, UnitOfWork
from server.http.errors import Conflict, NotFound
from server.identity.creators import service as creators_service
from server.identity.users import service as users_service
from server.notify.notifications import service as notifications_service
from server.privacy.accounts import domains, queries, tutor
from server.privacy.accounts.schemas import ExportOut
from server.signing import UrlSigner
from server.storage import Storage, new_key

EXPORT = "accounts.export"
UNFINISHED = ("pending", "running")

# Told (user id, steps done, steps in all) after each step.
Progress = Callable[[int, int, int], Awaitable[None]]
Section = Callable[..., Awaitable[Any]]


class ExportRunning(Conflict):
    code, message = "accounts.export_running", "An export of your data is already being built."


class ExportNotFound(NotFound):
    code, message = "accounts.export_not_found", "No such export."


_COLUMNS = (
    DataExport.id,
    DataExport.user_id,
    DataExport.status,
    DataExport.progress,
    DataExport.storage_key,
    DataExport.size_bytes,
    DataExport.created_at,
    DataExport.finished_at,
    DataExport.expires_at,
)


def _out(row: Any, *, now: datetime, link: str | None = None) -> ExportOut:
    expired = row.status == "ready" and row.expires_at is not None and row.expires_at <= now
    return ExportOut(
        id=row.id,
        status="expired" if expired else row.status,
        progress=row.progress,
        created_at=row.created_at,
        finished_at=row.finished_at,
        expires_at=row.expires_at,
        size_bytes=row.size_bytes,
        download_url=None if expired else link,
    )


async def request_export(uow: UnitOfWork, *, user_id: int, now: datetime) -> ExportOut:
    """Queue an export of everything the user owns; 409 while another is being built."""
    await uow.session.execute(select(User.id).where(User.id == user_id).with_for_update())
    running = await uow.session.scalar(
        select(DataExport.id)
        .where(DataExport.user_id == user_id, DataExport.status.in_(UNFINISHED))
        .limit(1)
    )
    if running is not None:
        raise ExportRunning()
    export = DataExport(user_id=user_id, status="pending", progress=0, created_at=now)
    uow.session.add(export)
    await uow.session.flush()
    uow.outbox.enqueue(EXPORT, job_id=f"export:{export.id}", export_id=export.id)
    return _out(export, now=now)


async def get_export(
    session: AsyncSession,
    *,
    user_id: int,
    export_id: int,
    signer: UrlSigner,
    link_ttl: timedelta,
    now: datetime,
) -> ExportOut:
    """One of the user's exports, with a fresh download link once it is ready; others' are 404."""
    row = (
        await session.execute(
            select(*_COLUMNS).where(DataExport.id == export_id, DataExport.user_id == user_id)
        )
    ).one_or_none()
    if row is None:
        raise ExportNotFound()
    link = None
    if row.status == "ready" and row.storage_key and row.expires_at and row.expires_at > now:
        ttl = min(link_ttl, row.expires_at - now)
        link, _ = signer.sign(row.storage_key, now=now, ttl=ttl, user_id=user_id)
    return _out(row, now=now, link=link)


async def _profile(session: AsyncSession, *, pii: PiiCipher, user_id: int) -> dict[str, Any]:
    row = (await session.execute(select(User).where(User.id == user_id))).scalar_one()
    return {
        "id": row.id,
        "email": row.email,
        "phone": await users_service.read_phone(session, pii, user_id=user_id),
        "nickname": row.nickname,
        "avatar_url": row.avatar_url,
        "bio": row.bio,
        "gender": row.gender,
        "birthday": row.birthday,
        "mbti": row.mbti,
        "zodiac": row.zodiac,
        "preferences": row.preferences,
        "privacy": row.privacy,
        "roles": list(row.roles),
        "status": row.status,
        "follower_count": row.follower_count,
        "following_count": row.following_count,
        "created_at": row.created_at,
        "email_verified_at": row.email_verified_at,
        "phone_verified_at": row.phone_verified_at,
    }


def _section(read: Callable[..., Awaitable[Any]]) -> Section:
    async def collect(session: AsyncSession, *, pii: PiiCipher, user_id: int) -> Any:
        return await read(session, user_id=user_id)

    return collect


# The archive's files, in the order they are collected (one progress step each).
SECTIONS: tuple[tuple[str, Section], ...] = (
    ("profile.json", _profile),
    ("sessions.json", _section(queries.sessions_of)),
    ("notifications.json", _section(queries.notifications_of)),
    ("follows.json", _section(queries.follows_of)),
    ("oauth.json", _section(queries.oauth_accounts_of)),
    ("creator_applications.json", creators_service.applications_for_export),
    ("devices.json", _section(queries.devices_of)),
    ("orders.json", domains.orders_of),
    ("shipments.json", domains.shipments_of),
    ("credits.json", domains.credits_of),
    ("subscriptions.json", domains.subscriptions_of),
    ("reviews.json", domains.reviews_of),
    ("invoices.json", domains.invoices_of),
    ("comments.json", domains.comments_of),
    ("posts.json", domains.posts_of),
    ("likes.json", domains.likes_of),
    ("favorites.json", domains.favorites_of),
    ("blocks.json", domains.blocks_of),
    ("messages.json", domains.messages_of),
    ("notification_preferences.json", domains.preferences_of),
    ("push_devices.json", domains.push_devices_of),
    ("earnings.json", domains.earnings_of),
    ("withdrawals.json", domains.withdrawals_of),
    ("tutor.json", _section(tutor.tutor_of)),
)


def zip_archive(files: dict[str, Any]) -> bytes:
    """The JSON documents, indented and UTF-8, in one deflated ZIP."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, document in files.items():
            data = orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_UTC_Z)
            archive.writestr(name, data)
    return buffer.getvalue()


async def _claim(db: Database, export_id: int) -> int | None:
    async with db.unit_of_work() as uow:
        row = (
            await uow.session.execute(
                select(DataExport.user_id, DataExport.status)
                .where(DataExport.id == export_id)
                .with_for_update()
            )
        ).one_or_none()
        if row is None or row.status not in UNFINISHED:
            return None
        await uow.session.execute(
            update(DataExport).where(DataExport.id == export_id).values(status="running")
        )
        return int(row.user_id)


async def _set(db: Database, export_id: int, **values: Any) -> int:
    async with db.unit_of_work() as uow:
        result = await uow.session.execute(
            update(DataExport).where(DataExport.id == export_id).values(**values)
        )
        return int(cast(CursorResult[Any], result).rowcount or 0)


async def build_export(
    db: Database,
    *,
    pii: PiiCipher,
    storage: Storage,
    export_id: int,
    ttl: timedelta,
    clock: Clock,
    progress: Progress,
) -> bool:
    """Collect every section, store the ZIP, mark the export ready and tell the user.

    False if there is nothing to build (unknown, or already finished: a rerun of the job).
    A failure marks the export failed and propagates.
    """
    user_id = await _claim(db, export_id)
    if user_id is None:
        return False
    total = len(SECTIONS) + 1
    files: dict[str, Any] = {}
    try:
        async with db.read() as session:
            for done, (name, collect) in enumerate(SECTIONS, start=1):
                files[name] = await collect(session, pii=pii, user_id=user_id)
                await _set(db, export_id, progress=done * 100 // total)
                await progress(user_id, done, total)
        archive = await asyncio.to_thread(zip_archive, files)
        key = new_key(f"exports/{user_id}", ".zip")
        size = await storage.put(key, archive)
    except Exception:
        await _set(db, export_id, status="failed", error="internal error", finished_at=clock.now())
        raise
    now = clock.now()
    async with db.unit_of_work() as uow:
        finished = await uow.session.execute(
            update(DataExport)
            .where(DataExport.id == export_id, DataExport.status == "running")
            .values(
                status="ready",
                progress=100,
                storage_key=key,
                size_bytes=size,
                finished_at=now,
                expires_at=now + ttl,
            )
        )
        if not cast(CursorResult[Any], finished).rowcount:
            await storage.delete(key)  # the account was erased meanwhile
            return False
        await notifications_service.notify(
            uow,
            user_id=user_id,
            type="accounts.export_ready",
            title="Your data export is ready",
            body=f"Download it before {(now + ttl):%Y-%m-%d %H:%M} UTC.",
            data={"export_id": export_id},
        )
    await progress(user_id, total, total)
    return True


async def expire_exports(db: Database, *, storage: Storage, now: datetime, limit: int) -> int:
    """Delete the archives of exports past their expiry and mark them expired; how many."""
    async with db.unit_of_work() as uow:
        rows = (
            await uow.session.execute(
                select(DataExport.id, DataExport.storage_key)
                .where(DataExport.status == "ready", DataExport.expires_at <= now)
                .order_by(DataExport.id)
                .limit(limit)
                .with_for_update()
            )
        ).all()
        for row in rows:
            if row.storage_key:
                await storage.delete(row.storage_key)
        if rows:
            await uow.session.execute(
                update(DataExport)
                .where(DataExport.id.in_([row.id for row in rows]))
                .values(status="expired", storage_key=None)
            )
    return len(rows)
