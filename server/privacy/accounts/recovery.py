"""Data exports whose job Redis lost: found in the database, queued again."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_

from models.privacy.exports import DataExport
from server.db import UnitOfWork
from server.privacy.accounts.exports import EXPORT, UNFINISHED
from server.recovery import requeue_stuck


async def requeue_exports(uow: UnitOfWork, *, before: datetime, limit: int) -> list[int]:
    """Queue the build of every export unfinished and asked for before `before`; their ids."""

    def queue(export_id: int) -> None:
        uow.outbox.enqueue(EXPORT, job_id=f"export:{export_id}", export_id=export_id)

    stuck = and_(DataExport.status.in_(UNFINISHED), DataExport.created_at <= before)
    return await requeue_stuck(uow, DataExport.id, stuck, limit=limit, queue=queue)
