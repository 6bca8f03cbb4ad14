"""The admin audit log, and making an account an administrator."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from models.identity import AdminLog
from server.auth import service as auth_service
from server.clock import Clock
from server.crypto import PiiCipher
from server.users import service as users_service


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


class PasswordRequired(ValueError):
    """A new admin account needs a password."""


async def ensure_admin(
    session: AsyncSession,
    pii: PiiCipher,
    *,
    email: str,
    password: str | None,
    nickname: str | None,
    clock: Clock,
) -> tuple[int, bool]:
    """Create an admin account or promote an existing one; (user id, whether it was created).

    An existing account keeps its password: promoting someone never changes how they sign in.
    """
    user_id = await users_service.find_user_id(session, pii, email=email)
    created = user_id is None
    if user_id is None:
        if not password:
            raise PasswordRequired("a password is needed to create the account")
        user_id = await auth_service.create_user(
            session,
            pii,
            email=email,
            phone=None,
            password=password,
            nickname=nickname,
            roles=["reader", "admin"],
        )
    else:
        await users_service.grant_role(session, user_id=user_id, role="admin", clock=clock)
    await record_admin_action(
        session,
        admin_id=user_id,
        action="admin.created",
        target_type="user",
        target_id=user_id,
        detail={"created": created, "via": "cli"},
        clock=clock,
    )
    return user_id, created
