"""Notification tasks: the welcome notice of a new account, and notification emails."""

from __future__ import annotations

from typing import Any

import structlog
from arq.worker import Retry

from jobs.registry import runtime_of, task
from server.mail import MailError, mailer_from_settings
from server.notify.notifications import service as notifications_service

log = structlog.get_logger(__name__)


def backoff(ctx: dict[str, Any], base_seconds: float) -> float:
    """The delay before the next try: base, 2x base, 4x base ..."""
    return base_seconds * 2 ** max(int(ctx.get("job_try") or 1) - 1, 0)


@task("notifications.welcome", timeout=30)
async def welcome(ctx: dict[str, Any], *, user_id: int) -> int | None:
    """Send the welcome notification once, however often the job runs; its id or None."""
    async with runtime_of(ctx).db.unit_of_work() as uow:
        notification = await notifications_service.send_welcome(uow, user_id=user_id)
        return None if notification is None else notification.id


@task("notifications.email", timeout=60, max_tries=20)
async def email(ctx: dict[str, Any], *, user_id: int, subject: str, text: str) -> bool:
    """Mail a notification to the user's verified address; False if there is none.

    A relay failure is retried with backoff up to `push_max_tries`, then given up (logged).
    """
    runtime = runtime_of(ctx)
    settings = runtime.settings
    async with runtime.db.read() as session:
        address = await notifications_service.email_address(session, user_id=user_id)
    if address is None:
        return False
    try:
        await mailer_from_settings(settings).send(to=address, subject=subject, text=text or subject)
    except MailError:
        if int(ctx.get("job_try") or 1) >= settings.push_max_tries:
            log.warning("notifications.email_gave_up", user_id=user_id)
            return False
        raise Retry(defer=backoff(ctx, settings.push_retry_base_seconds)) from None
    return True


TASKS = (welcome, email)
