"""Announcements: made by an admin, fanned out by jobs in batches of users by id.

Each batch is its own job (`announcements.fan_out`, job id by announcement and cursor). A batch
locks the announcement row, notifies the next users after the stored cursor, moves the cursor
and enqueues the next batch. Every notice carries `source = announcement:<id>` (unique per
user), so a batch run twice, or a resumed fan-out, never notifies anyone twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, String, cast, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from models.identity.users import User
from models.notify.announcements import Announcement
from server.audit import record_admin_action
from server.db import UnitOfWork
from server.http.errors import NotFound
from server.http.pagination import Page, id_before, page_of
from server.notify.announcements.schemas import (
    AnnouncementDetail,
    AnnouncementIn,
    AnnouncementOut,
)
from server.notify.notifications import bulk

TYPE = "system.announcement"
FAN_OUT = "announcements.fan_out"


def queue_batch(uow: UnitOfWork, *, announcement_id: int, cursor: int) -> None:
    """Have a worker send the batch after `cursor` once this commits (one job id per batch)."""
    uow.outbox.enqueue(
        FAN_OUT, job_id=f"{FAN_OUT}:{announcement_id}:{cursor}", announcement_id=announcement_id
    )


class AnnouncementNotFound(NotFound):
    code, message = "announcements.not_found", "No such announcement."


def _out(row: Announcement) -> AnnouncementOut:
    return AnnouncementOut(
        id=row.id,
        title=row.title,
        body=row.body,
        segment=dict(row.segment),
        status=row.status,
        sent_count=row.sent_count,
        batches=row.batches,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        finished_at=row.finished_at,
    )


def source_of(announcement_id: int) -> str:
    return f"announcement:{announcement_id}"


def audience(segment: dict[str, Any]) -> ColumnElement[bool]:
    """Active accounts in the segment."""
    active = User.status == "active"
    kind = segment.get("kind")
    if kind == "creators":
        return active & cast(User.roles, String).contains('"creator"')
    if kind == "role":
        # Roles are a JSON list of known words: a quoted match is exact on every backend.
        return active & cast(User.roles, String).contains(f'"{segment["role"]}"')
    if kind == "users":
        return active & User.id.in_([int(i) for i in segment.get("user_ids") or []])
    return active & true()


async def create(
    uow: UnitOfWork, *, admin_id: int, body: AnnouncementIn, ip: str | None, now: datetime
) -> AnnouncementOut:
    """Store the announcement, audit it, and queue its first batch."""
    row = Announcement(
        title=body.title,
        body=body.body,
        segment=body.segment.model_dump(exclude_none=True),
        status="sending",
        sent_count=0,
        batches=0,
        cursor=0,
        created_by=admin_id,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(row)
    await uow.session.flush()
    await record_admin_action(
        uow.session,
        admin_id=admin_id,
        action="announcement.create",
        target_type="announcement",
        target_id=row.id,
        detail={"title": body.title, "segment": row.segment},
        ip=ip,
    )
    queue_batch(uow, announcement_id=row.id, cursor=0)
    return _out(row)


async def fan_out_batch(
    uow: UnitOfWork, *, announcement_id: int, batch_size: int, now: datetime
) -> int:
    """Notify the next batch after the cursor; how many were notified (0 when finished)."""
    session = uow.session
    row = await session.scalar(
        select(Announcement).where(Announcement.id == announcement_id).with_for_update()
    )
    if row is None or row.status != "sending":
        return 0
    ids = list(
        await session.scalars(
            select(User.id)
            .where(audience(row.segment), User.id > row.cursor)
            .order_by(User.id)
            .limit(batch_size)
        )
    )
    notified = await bulk.notify_many(
        uow,
        user_ids=ids,
        type=TYPE,
        title=row.title,
        body=row.body,
        data={"announcement_id": row.id},
        source=source_of(row.id),
    )
    fresh = len(notified)
    row.sent_count += fresh
    row.batches += 1
    row.updated_at = now
    if len(ids) < batch_size:
        row.status, row.finished_at = "sent", now
    else:
        row.cursor = ids[-1]
        queue_batch(uow, announcement_id=row.id, cursor=row.cursor)
    return fresh


async def get(session: AsyncSession, *, announcement_id: int) -> AnnouncementDetail:
    row = await session.get(Announcement, announcement_id)
    if row is None:
        raise AnnouncementNotFound()
    recipients = await session.scalar(
        select(func.count()).select_from(User).where(audience(row.segment))
    )
    return AnnouncementDetail(**_out(row).model_dump(), recipients=int(recipients or 0))


async def list_announcements(
    session: AsyncSession, *, limit: int, cursor: str | None
) -> Page[AnnouncementOut]:
    """Newest first, in one query whatever the page size."""
    before = id_before(cursor)
    query = select(Announcement)
    if before is not None:
        query = query.where(Announcement.id < before)
    rows = await session.scalars(query.order_by(Announcement.id.desc()).limit(limit + 1))
    return page_of([_out(row) for row in rows], limit, lambda item: {"id": item.id})
