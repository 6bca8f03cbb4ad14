"""Administration: users (search, ban, roles) and the audit log."""

from __future__ import annotations

from aiohttp import web

from server.http.limits import client_ip
from server.http.pagination import Page
from server.http.registry import Route, RouteTable
from server.identity.admin import service
from server.identity.admin.schemas import (
    AdminUserDetail,
    AdminUserOut,
    AuditEntryOut,
    AuditQuery,
    BanIn,
    RolesIn,
    UserPath,
    UserSearchQuery,
)
from server.keys import PRINCIPAL, RUNTIME, SESSION_GUARD, SETTINGS, USER_ID

routes = RouteTable("admin", "Administration: users, roles, bans and the audit log.")

ADMIN = ("admin",)


async def require_admin_second_factor(request: web.Request, route: Route) -> None:
    """With REQUIRE_TWO_FACTOR_FOR_ADMINS, an admin-role route needs the caller's TOTP on.

    A route-registry `after_auth` hook (mounted in server/app.py): every domain's admin routes
    share it.
    """
    principal = request.get(PRINCIPAL)
    if (
        "admin" not in route.roles
        or not request.app[SETTINGS].require_two_factor_for_admins
        or principal is None
        or "admin" not in principal.roles
    ):
        return
    async with request.app[RUNTIME].db.read() as session:
        await service.require_second_factor(session, user_id=principal.user_id)


def _ip(request: web.Request) -> str:
    return client_ip(request, request.app[SETTINGS].trust_forwarded_for)


@routes.get("/api/v1/admin/users", query=UserSearchQuery, response=Page[AdminUserOut], roles=ADMIN)
async def search_users(request: web.Request, query: UserSearchQuery) -> Page[AdminUserOut]:
    """Find accounts by email prefix, nickname, id or phone; filter by status and role"""
    async with request.app[RUNTIME].db.unit_of_work() as uow:
        return await service.search_users(
            uow.session,
            request.app[RUNTIME].pii,
            q=query.q,
            status=query.status,
            role=query.role,
            limit=query.limit,
            cursor=query.cursor,
        )


@routes.get("/api/v1/admin/users/{id}", params=UserPath, response=AdminUserDetail, roles=ADMIN)
async def get_user(request: web.Request, params: UserPath) -> AdminUserDetail:
    """One account: status, roles, live sessions, two-factor"""
    async with request.app[RUNTIME].db.unit_of_work() as uow:
        return await service.get_user(uow.session, user_id=params.id)


@routes.post(
    "/api/v1/admin/users/{id}/ban",
    params=UserPath,
    body=BanIn,
    response=AdminUserDetail,
    roles=ADMIN,
    errors=frozenset({409}),
)
async def ban_user(request: web.Request, params: UserPath, body: BanIn) -> AdminUserDetail:
    """Ban an account: it cannot sign in, and all its sessions and sockets end"""
    runtime = request.app[RUNTIME]
    async with request.app[RUNTIME].db.unit_of_work() as uow:
        ended = await service.ban_user(
            uow.session,
            admin_id=request[USER_ID],
            user_id=params.id,
            reason=body.reason,
            ip=_ip(request),
            clock=runtime.clock,
        )
    request.app[SESSION_GUARD].forget(*ended)
    async with runtime.db.read() as session:
        return await service.get_user(session, user_id=params.id)


@routes.post(
    "/api/v1/admin/users/{id}/unban",
    params=UserPath,
    response=AdminUserDetail,
    roles=ADMIN,
    errors=frozenset({409}),
)
async def unban_user(request: web.Request, params: UserPath) -> AdminUserDetail:
    """Lift a ban (the account signs in again; old sessions stay ended)"""
    async with request.app[RUNTIME].db.unit_of_work() as uow:
        await service.unban_user(
            uow.session,
            admin_id=request[USER_ID],
            user_id=params.id,
            ip=_ip(request),
            clock=request.app[RUNTIME].clock,
        )
        return await service.get_user(uow.session, user_id=params.id)


@routes.put(
    "/api/v1/admin/users/{id}/roles",
    params=UserPath,
    body=RolesIn,
    response=AdminUserDetail,
    roles=ADMIN,
    errors=frozenset({409}),
)
async def set_roles(request: web.Request, params: UserPath, body: RolesIn) -> AdminUserDetail:
    """Replace an account's roles (reader is always kept; your own admin role stays)"""
    async with request.app[RUNTIME].db.unit_of_work() as uow:
        await service.set_roles(
            uow.session,
            admin_id=request[USER_ID],
            user_id=params.id,
            roles=list(body.roles),
            ip=_ip(request),
            clock=request.app[RUNTIME].clock,
        )
        return await service.get_user(uow.session, user_id=params.id)


@routes.get("/api/v1/admin/audit", query=AuditQuery, response=Page[AuditEntryOut], roles=ADMIN)
async def list_audit(request: web.Request, query: AuditQuery) -> Page[AuditEntryOut]:
    """The audit log of admin actions, newest first"""
    async with request.app[RUNTIME].db.unit_of_work() as uow:
        return await service.list_audit(
            uow.session,
            admin_id=query.admin_id,
            target_type=query.target_type,
            target_id=query.target_id,
            limit=query.limit,
            cursor=query.cursor,
        )
