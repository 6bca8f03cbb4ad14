"""Administration of accounts: search, ban, roles; reading the audit log; making an administrator.

Every action is written to the audit log in the same transaction as the change it records.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, cast, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.audit import AdminLog
from models.identity.users import ROLES, User
from server.audit import record_admin_action
from server.clock import Clock
from server.crypto import PiiCipher
from server.http.errors import Conflict, Forbidden
from server.http.ids import MAX_ID
from server.http.pagination import Page, id_before, page_of
from server.identity.admin.schemas import AdminUserDetail, AdminUserOut, AuditEntryOut
from server.identity.auth import challenges
from server.identity.auth import service as auth_service
from server.identity.sessions import service as sessions_service
from server.identity.users import service as users_service
from server.identity.users.schemas import normalise_phone


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


class TwoFactorRequired(Forbidden):
    code, message = (
        "auth.two_factor_required",
        "Administrators must turn on two-factor authentication first.",
    )


class CannotBanSelf(Conflict):
    code, message = "admin.cannot_ban_self", "An administrator cannot ban their own account."


class AlreadyBanned(Conflict):
    code, message = "admin.already_banned", "This account is already banned."


class NotBanned(Conflict):
    code, message = "admin.not_banned", "This account is not banned."


class UserDeleted(Conflict):
    code, message = "admin.user_deleted", "This account was deleted."


class CannotDropOwnAdmin(Conflict):
    code, message = "admin.cannot_remove_own_admin", "You cannot remove your own admin role."


async def require_second_factor(session: AsyncSession, *, user_id: int) -> None:
    """403 `auth.two_factor_required` unless this administrator has two-factor on."""
    if not await challenges.second_factor_enabled(session, user_id=user_id):
        raise TwoFactorRequired()


_USER_COLUMNS = (
    User.id,
    User.email,
    User.phone_masked,
    User.nickname,
    User.status,
    User.roles,
    User.created_at,
)


def _user_out(row: Any) -> AdminUserOut:
    return AdminUserOut.model_construct(
        id=row.id,
        email=row.email,
        phone=row.phone_masked,
        nickname=row.nickname,
        status=row.status,
        roles=list(row.roles),
        created_at=row.created_at,
    )


def _search_clause(pii: PiiCipher, q: str) -> Any:
    """Email prefix, nickname substring, exact id, or exact phone (by its lookup hash)."""
    matches = [
        User.email.startswith(q.lower(), autoescape=True),
        User.nickname.contains(q, autoescape=True),
    ]
    # isdigit alone passes "²", which int() refuses.
    if q.isascii() and q.isdigit() and len(q) <= 19 and 0 < int(q) <= MAX_ID:
        matches.append(User.id == int(q))
    try:
        phone = normalise_phone(q)
    except ValueError:
        pass
    else:
        matches.append(User.phone_hash == users_service.phone_hash(pii, phone))
    return or_(*matches)


async def search_users(
    session: AsyncSession,
    pii: PiiCipher,
    *,
    q: str | None,
    status: str | None,
    role: str | None,
    limit: int,
    cursor: str | None,
) -> Page[AdminUserOut]:
    """Accounts matching the filters, newest first, in one query whatever the page size."""
    query = select(*_USER_COLUMNS)
    if q:
        query = query.where(_search_clause(pii, q.strip() or q))
    if status is not None:
        query = query.where(User.status == status)
    if role is not None:
        # Roles are a JSON list of known words: a quoted match is exact on every backend.
        query = query.where(cast(User.roles, String).contains(f'"{role}"'))
    before = id_before(cursor)
    if before is not None:
        query = query.where(User.id < before)
    rows = (await session.execute(query.order_by(User.id.desc()).limit(limit + 1))).all()
    return page_of([_user_out(row) for row in rows], limit, lambda item: {"id": item.id})


async def get_user(session: AsyncSession, *, user_id: int) -> AdminUserDetail:
    """One account with its live session count and whether two-factor is on; 404 if none."""
    row = (await session.execute(select(*_USER_COLUMNS).where(User.id == user_id))).one_or_none()
    if row is None:
        raise users_service.UserNotFound()
    return AdminUserDetail.model_construct(
        **_user_out(row).model_dump(),
        session_count=await sessions_service.count_live_sessions(session, user_id=user_id),
        two_factor_enabled=await challenges.second_factor_enabled(session, user_id=user_id),
    )


async def _lock_user(session: AsyncSession, *, user_id: int) -> Any:
    row = (
        await session.execute(
            select(User.status, User.roles).where(User.id == user_id).with_for_update()
        )
    ).one_or_none()
    if row is None:
        raise users_service.UserNotFound()
    if row.status == "deleted":
        raise UserDeleted()
    return row


async def ban_user(
    session: AsyncSession,
    *,
    admin_id: int,
    user_id: int,
    reason: str,
    ip: str | None,
    clock: Clock,
) -> list[int]:
    """Ban an account and end all its sessions; the ids of the sessions ended."""
    if user_id == admin_id:
        raise CannotBanSelf()
    row = await _lock_user(session, user_id=user_id)
    if row.status == "banned":
        raise AlreadyBanned()
    now = clock.now()
    await session.execute(
        update(User).where(User.id == user_id).values(status="banned", updated_at=now)
    )
    ended = await auth_service.revoke_user_sessions(
        session, user_id=user_id, reason="banned", now=now
    )
    await record_admin_action(
        session,
        admin_id=admin_id,
        action="user.banned",
        target_type="user",
        target_id=user_id,
        detail={"reason": reason, "previous_status": row.status, "sessions_ended": len(ended)},
        ip=ip,
        clock=clock,
    )
    return ended


async def unban_user(
    session: AsyncSession, *, admin_id: int, user_id: int, ip: str | None, clock: Clock
) -> None:
    """Lift a ban: the account may sign in again (its old sessions stay ended)."""
    row = await _lock_user(session, user_id=user_id)
    if row.status != "banned":
        raise NotBanned()
    await session.execute(
        update(User).where(User.id == user_id).values(status="active", updated_at=clock.now())
    )
    await record_admin_action(
        session,
        admin_id=admin_id,
        action="user.unbanned",
        target_type="user",
        target_id=user_id,
        ip=ip,
        clock=clock,
    )


async def set_roles(
    session: AsyncSession,
    *,
    admin_id: int,
    user_id: int,
    roles: list[str],
    ip: str | None,
    clock: Clock,
) -> None:
    """Replace an account's roles (reader always kept); nobody removes their own admin role."""
    row = await _lock_user(session, user_id=user_id)
    wanted = {"reader", *roles}
    new_roles = [role for role in ROLES if role in wanted]
    if user_id == admin_id and "admin" not in new_roles:
        raise CannotDropOwnAdmin()
    before = list(row.roles)
    await session.execute(
        update(User).where(User.id == user_id).values(roles=new_roles, updated_at=clock.now())
    )
    await record_admin_action(
        session,
        admin_id=admin_id,
        action="user.roles_changed",
        target_type="user",
        target_id=user_id,
        detail={"before": before, "after": new_roles},
        ip=ip,
        clock=clock,
    )


async def list_audit(
    session: AsyncSession,
    *,
    admin_id: int | None,
    target_type: str | None,
    target_id: int | None,
    limit: int,
    cursor: str | None,
) -> Page[AuditEntryOut]:
    """Audit rows matching the filters, newest first, in one query whatever the page size."""
    query = select(
        AdminLog.id,
        AdminLog.admin_id,
        AdminLog.action,
        AdminLog.target_type,
        AdminLog.target_id,
        AdminLog.detail,
        AdminLog.ip,
        AdminLog.created_at,
    )
    if admin_id is not None:
        query = query.where(AdminLog.admin_id == admin_id)
    if target_type is not None:
        query = query.where(AdminLog.target_type == target_type)
    if target_id is not None:
        query = query.where(AdminLog.target_id == target_id)
    before = id_before(cursor)
    if before is not None:
        query = query.where(AdminLog.id < before)
    rows = (await session.execute(query.order_by(AdminLog.id.desc()).limit(limit + 1))).all()
    items = [
        AuditEntryOut.model_construct(**{**row._asdict(), "detail": dict(row.detail or {})})
        for row in rows
    ]
    return page_of(items, limit, lambda item: {"id": item.id})
