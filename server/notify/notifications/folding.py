"""Storing a notification: a new row, or a burst of the same group key folded into one.

A notification with a `group_key` looks at the user's latest one of that key touched within
`notification_group_window_seconds`: if it already names the same actor the repeat is dropped
(follow, unfollow, follow again notifies once); if it is unread the new one folds into it
(count + 1, the actor first in `actor_ids`, title and data of the latest) and the user gets
`notification.updated` with the whole row, same id; otherwise a new row is made.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.notify.notifications import Notification
from server.notify.notifications import types

DEFAULT_WINDOW = timedelta(hours=1)
DEFAULT_ACTORS = 5


def window_and_actors(session: AsyncSession) -> tuple[timedelta, int]:
    runtime = session.info.get("runtime")
    if runtime is None:
        return DEFAULT_WINDOW, DEFAULT_ACTORS
    settings = runtime.settings
    return (
        timedelta(seconds=settings.notification_group_window_seconds),
        settings.notification_group_actors,
    )


def now_of(session: AsyncSession) -> datetime:
    from datetime import UTC

    runtime = session.info.get("runtime")
    return runtime.clock.now() if runtime is not None else datetime.now(UTC)


async def latest_of_group(
    session: AsyncSession, *, user_id: int, group_key: str, since: datetime
) -> Notification | None:
    """The user's latest notification of the key touched since `since`, row-locked.

    Found by a plain read, then locked by primary key: a locking read of the (user, key) range
    would take gap locks and deadlock concurrent inserts of other users' notifications.
    """
    found = await session.scalar(
        select(Notification.id)
        .where(
            Notification.user_id == user_id,
            Notification.group_key == group_key,
            or_(Notification.updated_at >= since, Notification.created_at >= since),
        )
        .order_by(Notification.id.desc())
        .limit(1)
    )
    if found is None:
        return None
    return await session.get(Notification, found, with_for_update=True, populate_existing=True)


def is_repeat(row: Notification, actor_id: int | None) -> bool:
    return actor_id is not None and actor_id in (row.actor_ids or [])


def fold(
    row: Notification,
    *,
    title: str,
    body: str,
    data: dict[str, Any],
    actor_id: int | None,
    now: datetime,
    keep: int,
) -> None:
    """Count one more actor into an unread row; the latest actor and texts win."""
    row.count = (row.count or 1) + 1
    actors = [a for a in (row.actor_ids or []) if a != actor_id]
    row.actor_ids = ([actor_id] if actor_id is not None else []) + actors[: keep - 1]
    kind = types.get(row.type)
    row.title = kind.group_title.format(count=row.count) if kind.group_title else title
    row.body = body
    row.data = dict(data)
    row.actor_id = actor_id
    row.updated_at = now
