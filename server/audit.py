"""The audit log: staff acts on accounts and on other people's things.

Every action is written in the same transaction as the change it records.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from models.audit import AdminLog
from server.clock import Clock


async def record_admin_action(
    session: AsyncSession,
    *,
    admin_id: int,
    action: str,
    target_type: str,
    target_id: int | None,
    detail: dict[str, Any] | None = None,
    ip: str | None = None,
    clock: Clock | None = None,
) -> None:
    """Append one audit row in the caller's transaction, so it commits with the action."""
    await session.execute(
        insert(AdminLog).values(
            admin_id=admin_id,
            action=action,
            target_type=target_type,
            target_id=target_id,
            detail=detail or {},
            ip=ip,
            created_at=(clock or Clock()).now(),
        )
    )
