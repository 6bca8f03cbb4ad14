"""HTTP routes: tutor quotas per role and per user, and tutor usage (everyone's and my own)."""

from __future__ import annotations

from aiohttp import web

from server.http.limits import client_ip
from server.http.registry import RouteTable
from server.keys import PRINCIPAL, RUNTIME, SETTINGS, USER_ID
from server.tutor.quotas import service, usage
from server.tutor.quotas.schemas import (
    MyUsage,
    QuotaIn,
    QuotaList,
    QuotaOut,
    RolePath,
    Span,
    UsageQuery,
    UsageReport,
    UserPath,
    UserQuotaOut,
)

routes = RouteTable("tutor_quotas", "The AI tutor's quotas and usage.")

ADMIN = ("admin",)
QUOTAS = "/api/v1/admin/tutor/quotas"
RULES = (
    "A user's limits, each on its own: the user's row where that limit is not null; else the "
    "most generous of their roles' rows (null there: unlimited); else the server defaults. "
    "Tokens count per business day."
)


async def _set(request: web.Request, subject_type: str, subject: str, body: QuotaIn) -> QuotaOut:
    async with request.app[RUNTIME].db.unit_of_work() as uow:
        return await service.set_quota(
            uow.session,
            subject_type=subject_type,
            subject=subject,
            quota=body,
            admin_id=request[USER_ID],
            ip=client_ip(request, request.app[SETTINGS].trust_forwarded_for),
            clock=request.app[RUNTIME].clock,
        )


async def _remove(request: web.Request, subject_type: str, subject: str) -> None:
    async with request.app[RUNTIME].db.unit_of_work() as uow:
        await service.remove_quota(
            uow.session,
            subject_type=subject_type,
            subject=subject,
            admin_id=request[USER_ID],
            ip=client_ip(request, request.app[SETTINGS].trust_forwarded_for),
            clock=request.app[RUNTIME].clock,
        )


@routes.get(QUOTAS, response=QuotaList, roles=ADMIN, description=RULES)
async def list_quotas(request: web.Request) -> QuotaList:
    """Every tutor quota row, and the defaults"""
    async with request.app[RUNTIME].db.read() as session:
        items = await service.list_quotas(session)
    return QuotaList(items=items, defaults=service.defaults_of(request.app[SETTINGS]))


@routes.get(f"{QUOTAS}/roles/{{role}}", params=RolePath, response=QuotaOut, roles=ADMIN)
async def get_role_quota(request: web.Request, params: RolePath) -> QuotaOut:
    """A role's tutor quota (404 `tutor.quota_not_found` when none is set)"""
    async with request.app[RUNTIME].db.read() as session:
        found = await service.find_quota(session, subject_type="role", subject=params.role)
    if found is None:
        raise service.QuotaNotFound()
    return found


@routes.put(
    f"{QUOTAS}/roles/{{role}}",
    params=RolePath,
    body=QuotaIn,
    response=QuotaOut,
    roles=ADMIN,
    description="Null: unlimited for holders of this role (the most generous role wins).",
)
async def set_role_quota(request: web.Request, params: RolePath, body: QuotaIn) -> QuotaOut:
    """Set a role's tutor quota"""
    return await _set(request, "role", params.role, body)


@routes.delete(f"{QUOTAS}/roles/{{role}}", params=RolePath, status=204, roles=ADMIN)
async def remove_role_quota(request: web.Request, params: RolePath) -> None:
    """Remove a role's tutor quota"""
    await _remove(request, "role", params.role)


@routes.get(
    f"{QUOTAS}/users/{{user_id}}",
    params=UserPath,
    response=UserQuotaOut,
    roles=ADMIN,
    description=RULES,
)
async def get_user_quota(request: web.Request, params: UserPath) -> UserQuotaOut:
    """A user's own tutor quota row (if any) and the quota that applies to them"""
    settings = request.app[SETTINGS]
    async with request.app[RUNTIME].db.read() as session:
        roles = await service.user_roles(session, user_id=params.user_id)
        own = await service.find_quota(session, subject_type="user", subject=str(params.user_id))
        quota = await service.effective_quota(
            session, user_id=params.user_id, roles=roles, settings=settings
        )
    return UserQuotaOut(quota=own, effective=service.quota_out(quota))


@routes.put(
    f"{QUOTAS}/users/{{user_id}}",
    params=UserPath,
    body=QuotaIn,
    response=QuotaOut,
    roles=ADMIN,
    description="Null: this limit comes from the user's roles (or the defaults) instead.",
)
async def set_user_quota(request: web.Request, params: UserPath, body: QuotaIn) -> QuotaOut:
    """Set a user's own tutor quota"""
    async with request.app[RUNTIME].db.read() as session:
        await service.user_roles(session, user_id=params.user_id)  # 404 for an unknown user
    return await _set(request, "user", str(params.user_id), body)


@routes.delete(f"{QUOTAS}/users/{{user_id}}", params=UserPath, status=204, roles=ADMIN)
async def remove_user_quota(request: web.Request, params: UserPath) -> None:
    """Remove a user's own tutor quota (their roles' or the defaults apply again)"""
    await _remove(request, "user", str(params.user_id))


@routes.get("/api/v1/admin/tutor/usage", query=UsageQuery, response=UsageReport, roles=ADMIN)
async def usage_report(request: web.Request, query: UsageQuery) -> UsageReport:
    """Tutor runs, tokens and credits per user, model or business day"""
    since, until = usage.span(
        query.since,
        query.until,
        now=request.app[RUNTIME].clock.now(),
        settings=request.app[SETTINGS],
    )
    async with request.app[RUNTIME].db.read() as session:
        return await usage.usage_report(
            session,
            group_by=query.group_by,
            since=since,
            until=until,
            user_id=query.user_id,
            model_id=query.model_id,
            limit=query.limit,
        )


@routes.get("/api/v1/tutor/usage", query=Span, response=MyUsage)
async def my_usage(request: web.Request, query: Span) -> MyUsage:
    """My tutor usage per day and model (the last 30 days by default), my quota, and what is
    left today"""
    settings, now = request.app[SETTINGS], request.app[RUNTIME].clock.now()
    since, until = usage.span(query.since, query.until, now=now, settings=settings)
    principal = request[PRINCIPAL]
    async with request.app[RUNTIME].db.read() as session:
        return await usage.my_usage(
            session,
            user_id=request[USER_ID],
            roles=principal.roles,
            since=since,
            until=until,
            settings=settings,
            now=now,
        )
