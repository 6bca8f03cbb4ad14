"""Pushing one message to a user's devices: each device once, dead tokens disabled."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import structlog
from sqlalchemy import select

from models.identity.users import User
from models.notify.push import PushDelivery, PushDevice
from server.db import Database
from server.notify.notifications import devices
from server.notify.notifications.push.base import PushMessage, PushProvider, PushResult

log = structlog.get_logger(__name__)


async def pending_devices(db: Database, *, user_id: int, ref: str) -> list[PushDevice]:
    """The user's active devices not yet done with `ref` (sent, dead or refused for good);
    none once the account is no longer active (banned, deactivated, deleted)."""
    async with db.read() as session:
        status = await session.scalar(select(User.status).where(User.id == user_id))
        if status != "active":
            return []
        active = await devices.active_devices(session, user_id=user_id)
        done = set(
            await session.scalars(
                select(PushDelivery.device_id).where(
                    PushDelivery.ref == ref, PushDelivery.status != "failed"
                )
            )
        )
    return [device for device in active if device.id not in done]


async def record(
    db: Database, *, ref: str, device: PushDevice, result: PushResult, now: datetime
) -> None:
    """Keep what came of one attempt; a dead token disables its device."""
    status = {"retry": "failed", "failed": "refused"}.get(result.outcome, result.outcome)
    async with db.unit_of_work() as uow:
        row = await uow.session.scalar(
            select(PushDelivery)
            .where(PushDelivery.ref == ref, PushDelivery.device_id == device.id)
            .with_for_update()
        )
        if row is None:
            row = PushDelivery(ref=ref, device_id=device.id, attempts=0, created_at=now)
            uow.session.add(row)
        row.status = status
        row.attempts = (row.attempts or 0) + 1
        row.provider_id = result.provider_id
        row.error = (result.detail or "")[:255] or None
        row.updated_at = now
        if result.outcome == "dead":
            await devices.disable(
                uow.session, device_id=device.id, reason=result.detail or "dead", now=now
            )


async def push_to_user(
    db: Database,
    providers: dict[str, PushProvider],
    *,
    user_id: int,
    message: PushMessage,
    now: datetime,
) -> Counter[str]:
    """Send to every pending device; how many ended in each outcome (`retry` to try again)."""
    outcomes: Counter[str] = Counter()
    for device in await pending_devices(db, user_id=user_id, ref=message.ref):
        provider = providers.get(device.provider)
        if provider is None:
            result = PushResult("failed", f"{device.provider} is not configured")
        else:
            result = await provider.send(device.token, message)
        await record(db, ref=message.ref, device=device, result=result, now=now)
        outcomes[result.outcome] += 1
        log.info("push.attempt", device_id=device.id, outcome=result.outcome, detail=result.detail)
    return outcomes
