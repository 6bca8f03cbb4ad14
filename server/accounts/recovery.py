"""Data exports whose job Redis lost: found in the database, queued again."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from models.creators import DataExport
from server.accounts.exports import EXPORT, UNFINISHED
from server.db import UnitOfWork


async def requeue_exports(uow: UnitOfWork, *, before: datetime, limit: int) -> list[int]:
    """Queue the build of every export unfinished and asked for before `before`; their ids."""
    ids = list(
        (
            await uow.session.scalars(
                select(DataExport.id)
                .where(DataExport.status.in_(UNFINISHED), DataExport.created_at <= before)
                .order_by(DataExport.id)
                .limit(limit)
            )
        ).all()
    )
    for export_id in ids:
        uow.outbox.enqueue(EXPORT, job_id=f"export:{export_id}", export_id=export_id)
    return ids
