"""Device push and announcement fan-out."""

from __future__ import annotations

from typing import Any

import structlog
from arq.worker import Retry

from jobs.notifications import backoff
from jobs.registry import runtime_of, task
from server.notify.announcements import service as announcements
from server.notify.notifications.push.base import PushMessage
from server.notify.notifications.push.delivery import push_to_user
from server.notify.notifications.push.providers import close_all, providers_from_settings

log = structlog.get_logger(__name__)


@task("push.send", timeout=120, max_tries=20)
async def send(
    ctx: dict[str, Any],
    *,
    user_id: int,
    ref: str,
    title: str,
    body: str = "",
    data: dict[str, Any] | None = None,
) -> dict[str, int]:
    """Push `ref` to each of the user's active devices once; retried with backoff.

    A device already done with `ref` (sent, dead, refused) is skipped, so a re-run or a retry
    only sends where the last try failed. Dead tokens (APNs 410 Unregistered, FCM UNREGISTERED
    or 404, JPush 1011) disable their device. After `push_max_tries` the rest is given up.
    """
    runtime = runtime_of(ctx)
    settings = runtime.settings
    providers = providers_from_settings(settings)
    message = PushMessage(title=title, body=body, data=dict(data or {}), ref=ref)
    try:
        outcomes = await push_to_user(
            runtime.db, providers, user_id=user_id, message=message, now=runtime.clock.now()
        )
    finally:
        await close_all(providers)
    if outcomes["retry"]:
        if int(ctx.get("job_try") or 1) < settings.push_max_tries:
            raise Retry(defer=backoff(ctx, settings.push_retry_base_seconds))
        log.warning("push.gave_up", ref=ref, user_id=user_id, devices=outcomes["retry"])
    return dict(outcomes)


@task("announcements.fan_out", timeout=300)
async def fan_out(ctx: dict[str, Any], *, announcement_id: int) -> int:
    """One batch of an announcement (the next is queued by it); how many were notified."""
    runtime = runtime_of(ctx)
    async with runtime.db.unit_of_work() as uow:
        return await announcements.fan_out_batch(
            uow,
            announcement_id=announcement_id,
            batch_size=runtime.settings.announcement_batch_size,
            now=runtime.clock.now(),
        )


TASKS = (send, fan_out)
