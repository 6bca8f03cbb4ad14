"""Approved withdrawals whose payout job Redis lost: queued again. (`paying` ones are asked
about by `earnings.check_payouts`.)"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_

from models.commerce.earnings import Withdrawal
from server.commerce.earnings.withdrawals import PAYOUT_TASK, payout_job_id
from server.db import UnitOfWork
from server.recovery import requeue_stuck


async def requeue_payouts(uow: UnitOfWork, *, before: datetime, limit: int) -> list[int]:
    """Queue the payout of every withdrawal approved and untouched since `before`; their ids.
    A payout job still queued or running keeps its id, so it is not queued twice."""

    def queue(withdrawal_id: int) -> None:
        uow.outbox.enqueue(
            PAYOUT_TASK, job_id=payout_job_id(withdrawal_id), withdrawal_id=withdrawal_id
        )

    stuck = and_(Withdrawal.status == "approved", Withdrawal.updated_at <= before)
    return await requeue_stuck(uow, Withdrawal.id, stuck, limit=limit, queue=queue)
