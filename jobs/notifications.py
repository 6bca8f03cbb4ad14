"""Notification tasks: the welcome notice of a new account."""

from __future__ import annotations

from typing import Any

from jobs.registry import runtime_of, task
from server.notifications import service as notifications_service


@task("notifications.welcome", timeout=30)
async def welcome(ctx: dict[str, Any], *, user_id: int) -> int | None:
    """Send the welcome notification once, however often the job runs; its id or None."""
    async with runtime_of(ctx).db.unit_of_work() as uow:
        notification = await notifications_service.send_welcome(uow, user_id=user_id)
        return None if notification is None else notification.id
