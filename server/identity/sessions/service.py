"""A user's signed-in sessions and push devices: list, end, register.

Ending a session revokes it (server.identity.auth.service.revoke_session, which also removes the
devices
registered from it, so a signed-out phone stops receiving pushes). Callers drop the ended
sessions from the process's session cache (SESSION_GUARD.forget); other processes and the
socket revalidation see the revocation within their cache times.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, select
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from models.identity.auth import Device
from models.identity.sessions import AuthSession
from server.http.errors import NotFound
from server.http.pagination import Page, id_before, page_of
from server.identity.auth import service as auth_service
from server.identity.sessions.schemas import DeviceIn, DeviceOut, SessionOut


class SessionNotFound(NotFound):
    code, message = "sessions.not_found", "No such session."


class DeviceNotFound(NotFound):
    code, message = "devices.not_found", "No such device."


async def list_sessions(
    session: AsyncSession, *, user_id: int, current_session_id: int, limit: int, cursor: str | None
) -> Page[SessionOut]:
    """The user's live sessions, newest first, in one query whatever the page size."""
    before = id_before(cursor)
    query = select(
        AuthSession.id,
        AuthSession.device_name,
        AuthSession.platform,
        AuthSession.ip,
        AuthSession.user_agent,
        AuthSession.created_at,
        AuthSession.last_seen_at,
    ).where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
    if before is not None:
        query = query.where(AuthSession.id < before)
    rows = (await session.execute(query.order_by(AuthSession.id.desc()).limit(limit + 1))).all()
    items = [
        SessionOut.model_construct(**row._asdict(), current=row.id == current_session_id)
        for row in rows
    ]
    return page_of(items, limit, lambda item: {"id": item.id})


async def count_live_sessions(session: AsyncSession, *, user_id: int) -> int:
    query = select(func.count()).where(
        AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None)
    )
    return int(await session.scalar(query) or 0)


async def end_own_session(
    session: AsyncSession, *, user_id: int, session_id: int, now: datetime
) -> None:
    """End one of the user's live sessions (the current one too); others' ids are 404."""
    owner = await session.scalar(
        select(AuthSession.user_id)
        .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
        .with_for_update()
    )
    if owner != user_id:
        raise SessionNotFound()
    await auth_service.revoke_session(
        session, session_id=session_id, reason="revoked_by_user", now=now
    )


async def end_other_sessions(
    session: AsyncSession, *, user_id: int, keep_session_id: int, now: datetime
) -> list[int]:
    """Sign out everywhere but here; the ids of the sessions ended."""
    return await auth_service.revoke_user_sessions(
        session, user_id=user_id, reason="signed_out_elsewhere", now=now, keep=keep_session_id
    )


_DEVICE_COLUMNS = (
    Device.id,
    Device.platform,
    Device.provider,
    Device.name,
    Device.app_version,
    Device.session_id,
    Device.created_at,
    Device.last_seen_at,
)


def _device_out(row: Any, current_session_id: int) -> DeviceOut:
    return DeviceOut.model_construct(
        **row._asdict(), current=row.session_id is not None and row.session_id == current_session_id
    )


async def register_device(
    session: AsyncSession, *, user_id: int, session_id: int, device: DeviceIn, now: datetime
) -> DeviceOut:
    """Add or refresh a push registration; a token known under another account moves here."""
    values = {
        "user_id": user_id,
        "session_id": session_id,
        "platform": device.platform,
        "name": device.name,
        "app_version": device.app_version,
        "last_seen_at": now,
    }
    same_token = (Device.provider == device.provider, Device.push_token == device.push_token)
    await session.execute(_upsert_device(session, values, device=device, now=now))
    row = (await session.execute(select(*_DEVICE_COLUMNS).where(*same_token))).one()
    return _device_out(row, session_id)


def _upsert_device(
    session: AsyncSession, values: dict[str, Any], *, device: DeviceIn, now: datetime
) -> Any:
    """One statement that inserts the token or takes over its row: one row per token however
    many registrations race (a plain insert-or-update would deadlock on MariaDB's S locks)."""
    row = {"provider": device.provider, "push_token": device.push_token, "created_at": now}
    if session.get_bind().dialect.name == "sqlite":
        statement = sqlite_insert(Device).values(**row, **values)
        return statement.on_conflict_do_update(
            index_elements=["provider", "push_token"], set_=values
        )
    return mysql_insert(Device).values(**row, **values).on_duplicate_key_update(**values)


async def list_devices(
    session: AsyncSession, *, user_id: int, current_session_id: int, limit: int, cursor: str | None
) -> Page[DeviceOut]:
    """The user's registered devices, newest first, in one query whatever the page size."""
    before = id_before(cursor)
    query = select(*_DEVICE_COLUMNS).where(Device.user_id == user_id)
    if before is not None:
        query = query.where(Device.id < before)
    rows = (await session.execute(query.order_by(Device.id.desc()).limit(limit + 1))).all()
    items = [_device_out(row, current_session_id) for row in rows]
    return page_of(items, limit, lambda item: {"id": item.id})


async def remove_device(session: AsyncSession, *, user_id: int, device_id: int) -> None:
    """Forget one of the user's devices; others' ids are 404."""
    removed = await session.execute(
        delete(Device).where(Device.id == device_id, Device.user_id == user_id)
    )
    if cast(CursorResult[Any], removed).rowcount != 1:
        raise DeviceNotFound()
