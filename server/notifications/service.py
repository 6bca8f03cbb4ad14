"""Notifications: one table and one `notify` used by every domain."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.identity import User
from models.notifications import Notification
from server.db import UnitOfWork
from server.http.errors import NotFound
from server.http.pagination import InvalidCursor, Page, decode_cursor, page_of
from server.notifications.schemas import NotificationOut

WELCOME = "system.welcome"

_COLUMNS = (
    Notification.id,
    Notification.type,
    Notification.title,
    Notification.body,
    Notification.data,
    Notification.actor_id,
    Notification.read_at,
    Notification.created_at,
)


class NotificationNotFound(NotFound):
    code, message = "notifications.not_found", "No such notification."


def _out(row: Any) -> NotificationOut:
    return NotificationOut.model_construct(
        id=row.id,
        type=row.type,
        title=row.title,
        body=row.body,
        data=dict(row.data or {}),
        actor_id=row.actor_id,
        read_at=row.read_at,
        created_at=row.created_at,
    )


async def notify(
    uow: UnitOfWork,
    *,
    user_id: int,
    type: str,
    title: str,
    body: str = "",
    data: dict[str, Any] | None = None,
    actor_id: int | None = None,
    group_key: str | None = None,
) -> Notification:
    """Store a notification in the caller's transaction and push it to the user after commit.

    `type` is one of `server.notifications.types`; `group_key` (e.g. `like:content:7`) lets a
    burst of the same key fold into one unread notification."""
    del group_key  # folding arrives with the aggregation columns
    notification = Notification(
        user_id=user_id,
        type=type,
        title=title,
        body=body,
        data=dict(data or {}),
        actor_id=actor_id,
        read_at=None,
        created_at=datetime.now(UTC),
    )
    uow.session.add(notification)
    await uow.session.flush()
    uow.outbox.publish(
        "notification.created", _out(notification).model_dump(mode="json"), user_id=user_id
    )
    return notification


def list_query(*, user_id: int, limit: int, before: int | None, unread_only: bool) -> Select[Any]:
    """The list's one statement: `limit` rows before id `before`, newest first."""
    query = select(*_COLUMNS).where(Notification.user_id == user_id)
    if before is not None:
        query = query.where(Notification.id < before)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    return query.order_by(Notification.id.desc()).limit(limit)


async def list_notifications(
    session: AsyncSession,
    *,
    user_id: int,
    limit: int,
    cursor: str | None = None,
    unread_only: bool = False,
) -> Page[NotificationOut]:
    """The user's notifications, newest first, in one query whatever the page size."""
    position = decode_cursor(cursor)
    before = None if position is None else position.get("id")
    if position is not None and (type(before) is not int or before < 1):
        raise InvalidCursor()
    query = list_query(user_id=user_id, limit=limit + 1, before=before, unread_only=unread_only)
    rows = (await session.execute(query)).all()
    return page_of([_out(row) for row in rows], limit, lambda item: {"id": item.id})


async def unread_count(session: AsyncSession, *, user_id: int) -> int:
    """How many of the user's notifications are unread."""
    query = select(func.count()).where(
        Notification.user_id == user_id, Notification.read_at.is_(None)
    )
    return int(await session.scalar(query) or 0)


async def mark_read(
    uow: UnitOfWork, *, user_id: int, notification_id: int, now: datetime
) -> NotificationOut:
    """Mark one of the user's notifications read (again is a no-op); others' ids are 404."""
    result = await uow.session.execute(
        update(Notification)
        .where(
            Notification.id == notification_id,
            Notification.user_id == user_id,
            Notification.read_at.is_(None),
        )
        .values(read_at=now)
    )
    row = (
        await uow.session.execute(
            select(*_COLUMNS).where(
                Notification.id == notification_id, Notification.user_id == user_id
            )
        )
    ).one_or_none()
    if row is None:
        raise NotificationNotFound()
    if cast(CursorResult[Any], result).rowcount:
        uow.outbox.publish("notification.read", {"id": notification_id}, user_id=user_id)
    return _out(row)


async def mark_all_read(uow: UnitOfWork, *, user_id: int, now: datetime) -> int:
    """Mark every unread notification of the user read; how many changed."""
    result = await uow.session.execute(
        update(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .values(read_at=now)
    )
    updated = int(cast(CursorResult[Any], result).rowcount or 0)
    if updated:
        read_at = now.astimezone(UTC).isoformat().replace("+00:00", "Z")
        uow.outbox.publish(
            "notification.read_all", {"updated": updated, "read_at": read_at}, user_id=user_id
        )
    return updated


async def send_welcome(uow: UnitOfWork, *, user_id: int) -> Notification | None:
    """The one welcome notification of a new account; None if it exists or the user is gone."""
    # Locking the user row serialises two runs of the same job.
    locked = await uow.session.scalar(select(User.id).where(User.id == user_id).with_for_update())
    if locked is None:
        return None
    exists = await uow.session.scalar(
        select(Notification.id)
        .where(Notification.user_id == user_id, Notification.type == WELCOME)
        .limit(1)
    )
    if exists is not None:
        return None
    return await notify(
        uow,
        user_id=user_id,
        type=WELCOME,
        title="Welcome to ShareStack",
        body="Your account is ready. Find something to read, or start writing.",
    )
