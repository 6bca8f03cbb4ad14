"""Refunds whose job Redis lost: found in the database, queued again under their own job id."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from models.payments import Refund
from server.db import UnitOfWork
from server.payments.service import REFUND, refund_job_id

# A refund in these states still has gateway work (asking, or polling a processing one).
UNSETTLED = ("pending", "processing")


async def requeue_refunds(uow: UnitOfWork, *, before: datetime, limit: int) -> list[int]:
    """Queue the job of every refund unsettled and untouched since `before`; their ids.

    A refund whose job is still queued, deferred or running keeps it (the id is the same and
    the job sink does not queue an id twice); one whose job is gone gets it back."""
    ids = list(
        (
            await uow.session.scalars(
                select(Refund.id)
                .where(Refund.status.in_(UNSETTLED), Refund.updated_at <= before)
                .order_by(Refund.id)
                .limit(limit)
            )
        ).all()
    )
    for refund_id in ids:
        uow.outbox.enqueue(REFUND, job_id=refund_job_id(refund_id), refund_id=refund_id)
    return ids
