"""Uploads whose processing job Redis lost: found in the database, queued again."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from models.media import Media
from server.db import UnitOfWork
from server.media.service import queue_processing

# An upload in these states has not been processed to the end (ready or failed).
UNPROCESSED = ("uploaded", "processing")


async def requeue_media(uow: UnitOfWork, *, before: datetime, limit: int) -> list[int]:
    """Queue processing of every upload unprocessed and untouched since `before`; their ids.
    A job still queued or running keeps its id, so it is not queued twice."""
    ids = list(
        (
            await uow.session.scalars(
                select(Media.id)
                .where(Media.status.in_(UNPROCESSED), Media.updated_at <= before)
                .order_by(Media.id)
                .limit(limit)
            )
        ).all()
    )
    for media_id in ids:
        queue_processing(uow, media_id=media_id)
    return ids
