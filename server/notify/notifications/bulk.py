"""One notification to many users at once (announcements): a few queries per batch, not per user.

Same rules as `service.notify` without folding: each user's preferences pick the channels, and
`source` makes a user already notified by it a no-op.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from models.notify.notifications import Notification
from server.db import UnitOfWork
from server.notify.notifications import devices, folding, preferences, service, types


async def notify_many(
    uow: UnitOfWork,
    *,
    user_ids: list[int],
    type: str,
    title: str,
    body: str,
    data: dict[str, Any],
    source: str,
) -> list[int]:
    """Notify each user not yet notified by `source`; the ids of those notified now."""
    session = uow.session
    if not user_ids:
        return []
    already = set(
        await session.scalars(
            select(Notification.user_id).where(
                Notification.source == source, Notification.user_id.in_(user_ids)
            )
        )
    )
    todo = [user_id for user_id in user_ids if user_id not in already]
    if not todo:
        return []
    kind = types.get(type)
    channels = await preferences.channels_for_many(session, user_ids=todo, type=type)
    reachable = await devices.users_with_devices(session, user_ids=todo)
    now = folding.now_of(session)
    rows = {
        user_id: Notification(
            user_id=user_id,
            type=type,
            title=title[:200],
            body=body,
            data=dict(data),
            actor_id=None,
            read_at=None,
            created_at=now,
            count=1,
            actor_ids=[],
            updated_at=now,
            source=source,
        )
        for user_id in todo
        if kind.stored and channels[user_id].in_app
    }
    session.add_all(rows.values())
    await session.flush()
    for user_id in todo:
        row = rows.get(user_id)
        if row is not None:
            payload = service.out(row).model_dump(mode="json")
            uow.outbox.publish("notification.created", payload, user_id=user_id)
        service.send_out(
            uow,
            user_id=user_id,
            ref=f"notification:{row.id}" if row is not None else f"{source}:{user_id}",
            type=type,
            title=title[:200],
            body=body,
            data=data,
            push=channels[user_id].push and user_id in reachable,
            email=channels[user_id].email,
        )
    return todo
