"""Storing a notification: a new row, or a burst of the same group key folded into one.

A notification with a `group_key` looks at the user's latest one of that key touched within
`notification_group_window_seconds`: if it already names the same actor the repeat is dropped
(follow, unfollow, follow again notifies once); if it is unread the new one folds into it
(count + 1, the actor first in `actor_ids`, title and data of the latest) and the user gets
`notification.updated` with the whole row, same id; otherwise a new row is made.

The row a burst folds into is open for folding: its `fold_key` holds the group key, unique per
user, until it is read or a later burst of the key starts a row of its own. Two first notices of
one key at once therefore make one row: the second meets the first's key and folds into it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Executable, or_, select
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
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


async def open_row(
    session: AsyncSession, values: dict[str, Any], *, since: datetime
) -> tuple[Notification, bool]:
    """The user's row open for folding of `values["fold_key"]`, row-locked: made from `values`
    (True), or the one a concurrent transaction made first (False), for the caller to fold into.

    One upsert statement: on MariaDB a duplicate key takes the existing row's exclusive lock at
    once, waiting for a concurrent maker to commit (a plain insert would take shared locks on the
    key, and several racers would deadlock upgrading them). The row is then locked by primary
    key, never by a locking read of the (user, key) index, whose gap locks would hold up other
    notifications. The upsert's `count + 1` tells a conflict (a row made here has count 1) and is
    taken back at once: the caller's fold counts. An open row past the window is closed instead,
    and the insert tried again.
    """
    for _ in range(2):
        row_id, count = (await session.execute(_upsert(session, values))).one()
        row = await session.get(Notification, row_id, with_for_update=True, populate_existing=True)
        assert row is not None, "the upsert returned the key's open row"
        if count == 1:
            return row, True
        row.count -= 1
        if touched_since(row, since):
            await session.flush()
            return row, False
        # Open but past the window: closed, and this burst gets a row of its own.
        row.fold_key = None
        await session.flush()
    raise RuntimeError("the key's open notification was replaced twice in one transaction")


def _upsert(session: AsyncSession, values: dict[str, Any]) -> Executable:
    """Insert `values`, or count one more into the open row of their key; its id and count."""
    returned = (Notification.id, Notification.count)
    if session.get_bind().dialect.name == "mysql":
        statement = mysql_insert(Notification).values(values)
        upsert = statement.on_duplicate_key_update(count=Notification.count + 1)
        return upsert.returning(*returned)
    lite = sqlite_insert(Notification).values(values)
    return lite.on_conflict_do_update(
        index_elements=["user_id", "fold_key"], set_={"count": Notification.count + 1}
    ).returning(*returned)


def touched_since(row: Notification, since: datetime) -> bool:
    """Whether the row was made or folded into since `since` (still in its window)."""
    return row.created_at >= since or (row.updated_at is not None and row.updated_at >= since)


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
