"""Announcements whose next batch Redis lost: found in the database, their batch queued again."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from models.notify.announcements import Announcement
from server.db import UnitOfWork
from server.notify.announcements.service import queue_batch


async def requeue_announcements(uow: UnitOfWork, *, before: datetime, limit: int) -> list[int]:
    """Queue the next batch of every announcement still `sending` and untouched since `before`;
    their ids. The batch's job id is the one its predecessor queued (id and cursor), so a batch
    still queued or running is not queued twice, and a batch that already ran moved the cursor."""
    rows = (
        await uow.session.execute(
            select(Announcement.id, Announcement.cursor)
            .where(Announcement.status == "sending", Announcement.updated_at <= before)
            .order_by(Announcement.id)
            .limit(limit)
        )
    ).all()
    for row in rows:
        queue_batch(uow, announcement_id=row.id, cursor=row.cursor)
    return [row.id for row in rows]
