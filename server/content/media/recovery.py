"""Uploads whose processing job Redis lost: found in the database, queued again."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_

from models.content.media import Media
from server.content.media.service import queue_processing
from server.db import UnitOfWork
from server.recovery import requeue_stuck

# An upload in these states has not been processed to the end (ready or failed).
UNPROCESSED = ("uploaded", "processing")


async def requeue_media(uow: UnitOfWork, *, before: datetime, limit: int) -> list[int]:
    """Queue processing of every upload unprocessed and untouched since `before`; their ids.
    A job still queued or running keeps its id, so it is not queued twice."""

    def queue(media_id: int) -> None:
        queue_processing(uow, media_id=media_id)

    stuck = and_(Media.status.in_(UNPROCESSED), Media.updated_at <= before)
    return await requeue_stuck(uow, Media.id, stuck, limit=limit, queue=queue)
