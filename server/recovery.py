"""Work whose job Redis lost, found again in the database (see jobs/recovery.py).

Each wing says which of its rows are stuck and how their job is queued; finding them and
queueing each one's job is the same everywhere. The job goes out through the outbox under the
id it was first queued with, so a job still queued or running is not queued twice.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import InstrumentedAttribute

from server.db import UnitOfWork


async def requeue_stuck(
    uow: UnitOfWork,
    key: InstrumentedAttribute[int],
    stuck: ColumnElement[bool],
    *,
    limit: int,
    queue: Callable[[int], object],
    order_by: InstrumentedAttribute[int] | None = None,
) -> list[int]:
    """Call `queue` with the `key` of each of the first `limit` rows meeting `stuck` (by
    `order_by`, else by `key`); those keys."""
    keys = list(
        (
            await uow.session.scalars(
                select(key)
                .where(stuck)
                .order_by(key if order_by is None else order_by)
                .limit(limit)
            )
        ).all()
    )
    for found in keys:
        queue(found)
    return keys
