"""Push devices: a user's registered tokens, one row per token whoever holds it now."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models.notify.push import PushDevice
from server.http.errors import NotFound
from server.http.pagination import Page, id_before, page_of
from server.notify.notifications.schemas import DeviceIn, DeviceOut

# Active devices one account keeps; registering one more disables the least recently seen.
MAX_ACTIVE_DEVICES = 20


class DeviceNotFound(NotFound):
    code, message = "push.device_not_found", "No such device."


def _out(row: PushDevice) -> DeviceOut:
    return DeviceOut(
        id=row.id,
        provider=row.provider,
        platform=row.platform,
        app_version=row.app_version,
        token_suffix=row.token[-6:],
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
        disabled_at=row.disabled_at,
        disabled_reason=row.disabled_reason,
    )


async def has_active(session: AsyncSession, *, user_id: int) -> bool:
    """Whether the user has a device a push can go to."""
    found = await session.scalar(
        select(PushDevice.id)
        .where(PushDevice.user_id == user_id, PushDevice.disabled_at.is_(None))
        .limit(1)
    )
    return found is not None


async def users_with_devices(session: AsyncSession, *, user_ids: list[int]) -> set[int]:
    """Which of these users have a device a push can go to, in one query."""
    rows = await session.scalars(
        select(PushDevice.user_id)
        .where(PushDevice.user_id.in_(user_ids), PushDevice.disabled_at.is_(None))
        .distinct()
    )
    return set(rows)


async def active_devices(session: AsyncSession, *, user_id: int) -> list[PushDevice]:
    rows = await session.scalars(
        select(PushDevice)
        .where(PushDevice.user_id == user_id, PushDevice.disabled_at.is_(None))
        .order_by(PushDevice.id)
    )
    return list(rows)


async def register(
    session: AsyncSession, *, user_id: int, device: DeviceIn, now: datetime
) -> DeviceOut:
    """Register a token for the user (again: refreshed; held by another account: moves over)."""
    row = await _by_token(session, device.token)
    if row is None:
        try:
            async with session.begin_nested():
                row = PushDevice(
                    user_id=user_id,
                    provider=device.provider,
                    token=device.token,
                    platform=device.platform,
                    created_at=now,
                )
                _refresh(row, user_id=user_id, device=device, now=now)
                session.add(row)
        except IntegrityError:  # registered at the same moment by another request
            row = await _by_token(session, device.token)
            assert row is not None
    _refresh(row, user_id=user_id, device=device, now=now)
    await session.flush()
    await _retire_extra(session, user_id=user_id, now=now)
    return _out(row)


async def _retire_extra(session: AsyncSession, *, user_id: int, now: datetime) -> None:
    """Keep at most MAX_ACTIVE_DEVICES active: a push never fans out to a pile of old tokens."""
    extra = list(
        await session.scalars(
            select(PushDevice.id)
            .where(PushDevice.user_id == user_id, PushDevice.disabled_at.is_(None))
            .order_by(PushDevice.last_seen_at.desc(), PushDevice.id.desc())
            .offset(MAX_ACTIVE_DEVICES)
        )
    )
    if extra:
        await session.execute(
            update(PushDevice)
            .where(PushDevice.id.in_(extra))
            .values(disabled_at=now, disabled_reason="replaced")
        )


def _refresh(row: PushDevice, *, user_id: int, device: DeviceIn, now: datetime) -> None:
    row.user_id = user_id
    row.provider = device.provider
    row.platform = device.platform
    row.app_version = device.app_version
    row.last_seen_at = now
    row.disabled_at = None
    row.disabled_reason = None


async def _by_token(session: AsyncSession, token: str) -> PushDevice | None:
    return await session.scalar(
        select(PushDevice).where(PushDevice.token == token).with_for_update()
    )


async def unregister(session: AsyncSession, *, user_id: int, device_id: int) -> None:
    """Forget one of the user's devices; another user's id is 404."""
    row = await session.scalar(
        select(PushDevice).where(PushDevice.id == device_id, PushDevice.user_id == user_id)
    )
    if row is None:
        raise DeviceNotFound()
    await session.delete(row)
    await session.flush()


async def list_devices(
    session: AsyncSession, *, user_id: int, limit: int, cursor: str | None
) -> Page[DeviceOut]:
    """The user's devices, newest first, disabled ones included."""
    before = id_before(cursor)
    query = select(PushDevice).where(PushDevice.user_id == user_id)
    if before is not None:
        query = query.where(PushDevice.id < before)
    rows = await session.scalars(query.order_by(PushDevice.id.desc()).limit(limit + 1))
    return page_of([_out(row) for row in rows], limit, lambda item: {"id": item.id})


async def disable(session: AsyncSession, *, device_id: int, reason: str, now: datetime) -> bool:
    """Stop pushing to a token the provider says is dead; whether it was active."""
    result = await session.execute(
        update(PushDevice)
        .where(PushDevice.id == device_id, PushDevice.disabled_at.is_(None))
        .values(disabled_at=now, disabled_reason=reason[:64])
    )
    return bool(getattr(result, "rowcount", 0))
