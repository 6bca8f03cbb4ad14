"""Approved withdrawals whose payout job Redis lost: queued again. (`paying` ones are asked
about by `earnings.check_payouts`.)"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from models.subscriptions import Withdrawal
from server.db import UnitOfWork
from server.earnings.withdrawals import PAYOUT_TASK, payout_job_id


async def requeue_payouts(uow: UnitOfWork, *, before: datetime, limit: int) -> list[int]:
    """Queue the payout of every withdrawal approved and untouched since `before`; their ids.
    A payout job still queued or running keeps its id, so it is not queued twice."""
    ids = list(
        (
            await uow.session.scalars(
                select(Withdrawal.id)
                .where(Withdrawal.status == "approved", Withdrawal.updated_at <= before)
                .order_by(Withdrawal.id)
                .limit(limit)
            )
        ).all()
    )
    for withdrawal_id in ids:
        uow.outbox.enqueue(
            PAYOUT_TASK, job_id=payout_job_id(withdrawal_id), withdrawal_id=withdrawal_id
        )
    return ids
