"""Refunds whose job Redis lost: found in the database, queued again under their own job id."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_

from models.commerce.payments import Refund
from server.commerce.payments.service import REFUND, refund_job_id
from server.db import UnitOfWork
from server.recovery import requeue_stuck

# A refund in these states still has gateway work (asking, or polling a processing one).
UNSETTLED = ("pending", "processing")


async def requeue_refunds(uow: UnitOfWork, *, before: datetime, limit: int) -> list[int]:
    """Queue the job of every refund unsettled and untouched since `before`; their ids.

    A refund whose job is still queued, deferred or running keeps it (the id is the same and
    the job sink does not queue an id twice); one whose job is gone gets it back."""

    def queue(refund_id: int) -> None:
        uow.outbox.enqueue(REFUND, job_id=refund_job_id(refund_id), refund_id=refund_id)

    stuck = and_(Refund.status.in_(UNSETTLED), Refund.updated_at <= before)
    return await requeue_stuck(uow, Refund.id, stuck, limit=limit, queue=queue)
