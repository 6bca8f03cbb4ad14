"""Per-type channel preferences: in-app, push, email; no row means the type's defaults."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.notify.push import NotificationPreference
from server.http.errors import ValidationFailed
from server.notify.notifications import types
from server.notify.notifications.schemas import PreferenceIn, PreferenceOut


@dataclass(frozen=True, slots=True)
class Channels:
    in_app: bool
    push: bool
    email: bool


class PreferencesInvalid(ValidationFailed):
    code, message = "notifications.preferences_invalid", "Some preferences cannot be set."


def _defaults(kind: types.NotificationType) -> Channels:
    return Channels(in_app=kind.in_app, push=kind.push, email=kind.email)


def _apply(kind: types.NotificationType, row: NotificationPreference | None) -> Channels:
    if row is None:
        return _defaults(kind)
    # A required type stays in the app whatever an old row says.
    return Channels(in_app=row.in_app or kind.required, push=row.push, email=row.email)


async def channels_for(session: AsyncSession, *, user_id: int, type: str) -> Channels:
    """Where a notification of `type` goes for this user."""
    row = await session.scalar(
        select(NotificationPreference).where(
            NotificationPreference.user_id == user_id, NotificationPreference.type == type
        )
    )
    return _apply(types.get(type), row)


async def channels_for_many(
    session: AsyncSession, *, user_ids: list[int], type: str
) -> dict[int, Channels]:
    """`channels_for` of many users in one query."""
    kind = types.get(type)
    rows = {
        row.user_id: row
        for row in await session.scalars(
            select(NotificationPreference).where(
                NotificationPreference.user_id.in_(user_ids), NotificationPreference.type == type
            )
        )
    }
    return {user_id: _apply(kind, rows.get(user_id)) for user_id in user_ids}


async def _rows(session: AsyncSession, user_id: int) -> dict[str, NotificationPreference]:
    rows = await session.scalars(
        select(NotificationPreference).where(NotificationPreference.user_id == user_id)
    )
    return {row.type: row for row in rows}


def _out(kind: types.NotificationType, row: NotificationPreference | None) -> PreferenceOut:
    channels = _apply(kind, row)
    return PreferenceOut(
        type=kind.name,
        description=kind.description,
        in_app=channels.in_app,
        push=channels.push,
        email=channels.email,
        required=kind.required,
        customised=row is not None,
    )


async def list_preferences(session: AsyncSession, *, user_id: int) -> list[PreferenceOut]:
    """Every type with the user's channels, in one query."""
    rows = await _rows(session, user_id)
    return [_out(kind, rows.get(name)) for name, kind in types.TYPES.items()]


def _check(items: list[PreferenceIn]) -> None:
    fields: dict[str, str] = {}
    seen: set[str] = set()
    for n, item in enumerate(items):
        kind = types.TYPES.get(item.type)
        if kind is None:
            fields[f"items.{n}.type"] = "Not a notification type."
        elif item.type in seen:
            fields[f"items.{n}.type"] = "Listed twice."
        elif kind.required and item.in_app is False:
            fields[f"items.{n}.in_app"] = "This notification cannot be turned off in the app."
        seen.add(item.type)
    if fields:
        raise PreferencesInvalid(fields=fields)


async def update_preferences(
    session: AsyncSession, *, user_id: int, items: list[PreferenceIn], now: datetime
) -> list[PreferenceOut]:
    """Set the channels given (others keep theirs); all or nothing."""
    _check(items)
    rows = await _rows(session, user_id)
    for item in items:
        kind = types.TYPES[item.type]
        row = rows.get(item.type)
        current = _apply(kind, row)
        if row is None:
            row = NotificationPreference(user_id=user_id, type=item.type)
            session.add(row)
            rows[item.type] = row
        row.in_app = current.in_app if item.in_app is None else item.in_app
        row.push = current.push if item.push is None else item.push
        row.email = current.email if item.email is None else item.email
        row.updated_at = now
    await session.flush()
    return [_out(kind, rows.get(name)) for name, kind in types.TYPES.items()]
