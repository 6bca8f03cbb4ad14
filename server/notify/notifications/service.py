"""Notifications: one table and one `notify` used by every domain."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.identity.users import User
from models.notify.notifications import Notification
from server.db import UnitOfWork
from server.http.errors import NotFound
from server.http.pagination import Page, id_before, page_of
from server.notify.notifications import devices, folding, preferences, types
from server.notify.notifications.schemas import NotificationOut

WELCOME = "system.welcome"

_COLUMNS = (
    Notification.id,
    Notification.type,
    Notification.title,
    Notification.body,
    Notification.data,
    Notification.actor_id,
    Notification.count,
    Notification.actor_ids,
    Notification.group_key,
    Notification.read_at,
    Notification.created_at,
    Notification.updated_at,
)


class NotificationNotFound(NotFound):
    code, message = "notifications.not_found", "No such notification."


def out(row: Any) -> NotificationOut:
    return NotificationOut.model_construct(
        id=row.id,
        type=row.type,
        title=row.title,
        body=row.body,
        data=dict(row.data or {}),
        actor_id=row.actor_id,
        count=row.count or 1,
        actor_ids=list(row.actor_ids or []),
        group_key=row.group_key,
        read_at=row.read_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
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
    source: str | None = None,
) -> Notification | None:
    """Notify a user in the caller's transaction; events, pushes and mails leave after commit.

    `type` is one of `server.notify.notifications.types`; the user's preferences pick the channels.
    In-app off: no row, no live event (None is returned). `group_key` (e.g. `like:content:7`)
    folds a burst into one unread row (see `folding`): the user gets `notification.updated`
    with the same id instead of `notification.created`, and only a new row is pushed or mailed.
    `source` (e.g. `announcement:3`) makes a second notice of the same source a no-op.
    """
    session = uow.session
    kind = types.get(type)
    channels = await preferences.channels_for(session, user_id=user_id, type=type)
    title, payload = title[:200], dict(data or {})
    notification: Notification | None = None
    if kind.stored and channels.in_app:
        notification, fresh = await _store(
            uow,
            user_id=user_id,
            type=type,
            group_key=group_key,
            source=source,
            title=title,
            body=body,
            data=payload,
            actor_id=actor_id,
        )
        if not fresh:
            return notification
    ref = f"notification:{notification.id}" if notification else f"{type}:{uuid.uuid4().hex}"
    push = channels.push and await devices.has_active(session, user_id=user_id)
    send_out(
        uow,
        user_id=user_id,
        ref=ref,
        type=type,
        title=title,
        body=body,
        data=payload,
        push=push,
        email=channels.email,
    )
    return notification


def send_out(
    uow: UnitOfWork,
    *,
    user_id: int,
    ref: str,
    type: str,
    title: str,
    body: str,
    data: dict[str, Any],
    push: bool,
    email: bool,
) -> None:
    """Queue the device push and the email of one notification (`ref` names it)."""
    if push:
        uow.outbox.enqueue(
            "push.send",
            job_id=f"push:{ref}",
            user_id=user_id,
            ref=ref,
            title=title,
            body=body,
            data={"type": type, **data},
        )
    if email:
        uow.outbox.enqueue(
            "notifications.email", job_id=f"email:{ref}", user_id=user_id, subject=title, text=body
        )


async def _store(
    uow: UnitOfWork,
    *,
    user_id: int,
    type: str,
    group_key: str | None,
    source: str | None,
    title: str,
    body: str,
    data: dict[str, Any],
    actor_id: int | None,
) -> tuple[Notification | None, bool]:
    """(the row, whether it is new): a new row, a folded one (not new), or a dropped repeat."""
    session = uow.session
    now = folding.now_of(session)
    values: dict[str, Any] = {
        "user_id": user_id,
        "type": type,
        "title": title,
        "body": body,
        "data": data,
        "actor_id": actor_id,
        "read_at": None,
        "created_at": now,
        "group_key": group_key,
        "count": 1,
        "actor_ids": [actor_id] if actor_id is not None else [],
        "updated_at": now,
        "source": source,
        "fold_key": group_key,
    }
    if group_key is not None:
        window, keep = folding.window_and_actors(session)
        latest = await folding.latest_of_group(
            session, user_id=user_id, group_key=group_key, since=now - window
        )
        if latest is not None and folding.is_repeat(latest, actor_id):
            return latest, False
        if latest is None or latest.read_at is not None:
            existing = await _of_source(session, user_id=user_id, source=source)
            if existing is not None:
                return existing, False
            # No unread row of the key in this transaction's view: open one, or meet the one a
            # concurrent first notice of the key has just opened.
            latest, made = await folding.open_row(session, values, since=now - window)
            if made:
                return _created(uow, latest), True
            if folding.is_repeat(latest, actor_id):
                return latest, False
        folding.fold(
            latest, title=title, body=body, data=data, actor_id=actor_id, now=now, keep=keep
        )
        await session.flush()
        payload = out(latest).model_dump(mode="json")
        uow.outbox.publish("notification.updated", payload, user_id=user_id)
        return latest, False
    existing = await _of_source(session, user_id=user_id, source=source)
    if existing is not None:
        return existing, False
    notification = Notification(**values)
    session.add(notification)
    await session.flush()
    return _created(uow, notification), True


async def _of_source(
    session: AsyncSession, *, user_id: int, source: str | None
) -> Notification | None:
    """The user's notification made by `source`, if it has one."""
    if source is None:
        return None
    return await session.scalar(
        select(Notification).where(Notification.user_id == user_id, Notification.source == source)
    )


def _created(uow: UnitOfWork, notification: Notification) -> Notification:
    """Tell the user of a new row (after commit)."""
    payload = out(notification).model_dump(mode="json")
    uow.outbox.publish("notification.created", payload, user_id=notification.user_id)
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
    before = id_before(cursor)
    query = list_query(user_id=user_id, limit=limit + 1, before=before, unread_only=unread_only)
    rows = (await session.execute(query)).all()
    return page_of([out(row) for row in rows], limit, lambda item: {"id": item.id})


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
        .values(read_at=now, fold_key=None)
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
    return out(row)


async def mark_all_read(uow: UnitOfWork, *, user_id: int, now: datetime) -> int:
    """Mark every unread notification of the user read; how many changed."""
    result = await uow.session.execute(
        update(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        # A read notification is closed: the next one of its key starts a new row.
        .values(read_at=now, fold_key=None)
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


async def email_address(session: AsyncSession, *, user_id: int) -> str | None:
    """Where a notification email to this user goes: their verified address while the account
    is active, else None."""
    row = (
        await session.execute(
            select(User.email, User.email_verified_at, User.status).where(User.id == user_id)
        )
    ).one_or_none()
    if row is None or not row.email or row.email_verified_at is None or row.status != "active":
        return None
    return str(row.email)
