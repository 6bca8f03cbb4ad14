"""Applying to become a creator, with real-name verification, and reviewing applications."""

from __future__ import annotations

from aiohttp import web

from server.http.limits import client_ip
from server.http.pagination import Page
from server.http.registry import RouteTable
from server.identity.creators import service
from server.identity.creators.schemas import (
    ApplicationIn,
    ApplicationOut,
    ApplicationParams,
    ApplicationQuery,
    RejectIn,
    ReviewedApplicationOut,
)
from server.identity_check import verifier_from_settings
from server.keys import RATE_LIMITER, RUNTIME, SETTINGS, USER_ID

routes = RouteTable("creators", "Applying to become a creator, with real-name verification.")

# Reviewers see real names in full: personal data, so administrators only.
REVIEWERS = ("admin",)


@routes.post(
    "/api/v1/creators/applications",
    body=ApplicationIn,
    response=ApplicationOut,
    status=201,
    errors=frozenset({409, 422, 429, 503}),
)
async def apply(request: web.Request, body: ApplicationIn) -> ApplicationOut:
    """Apply to become a creator; the real name and ID number are verified at once"""
    runtime, settings = request.app[RUNTIME], request.app[SETTINGS]
    return await service.apply(
        runtime.db,
        pii=runtime.pii,
        verifier=verifier_from_settings(settings),
        limiter=request.app[RATE_LIMITER],
        attempts=settings.identity_verify_attempts,
        user_id=request[USER_ID],
        application=body,
        clock=runtime.clock,
    )


@routes.get("/api/v1/creators/applications/mine", response=ApplicationOut, errors=frozenset({404}))
async def my_application(request: web.Request) -> ApplicationOut:
    """Your latest creator application, with the name and ID number masked"""
    runtime = request.app[RUNTIME]
    async with runtime.db.read() as session:
        return await service.latest_application(session, pii=runtime.pii, user_id=request[USER_ID])


@routes.get(
    "/api/v1/admin/creator_applications",
    query=ApplicationQuery,
    response=Page[ReviewedApplicationOut],
    roles=REVIEWERS,
)
async def list_applications(
    request: web.Request, query: ApplicationQuery
) -> Page[ReviewedApplicationOut]:
    """Creator applications, oldest first, optionally of one status (admins)"""
    runtime = request.app[RUNTIME]
    async with runtime.db.read() as session:
        return await service.list_applications(
            session, pii=runtime.pii, status=query.status, limit=query.limit, cursor=query.cursor
        )


@routes.post(
    "/api/v1/admin/creator_applications/{id}/approve",
    params=ApplicationParams,
    response=ReviewedApplicationOut,
    roles=REVIEWERS,
    errors=frozenset({404, 409}),
)
async def approve(request: web.Request, params: ApplicationParams) -> ReviewedApplicationOut:
    """Approve a pending application: the applicant becomes a creator (admins)"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        return await service.approve(
            uow,
            pii=runtime.pii,
            application_id=params.id,
            admin_id=request[USER_ID],
            ip=client_ip(request, request.app[SETTINGS].trust_forwarded_for),
            clock=runtime.clock,
        )


@routes.post(
    "/api/v1/admin/creator_applications/{id}/reject",
    params=ApplicationParams,
    body=RejectIn,
    response=ReviewedApplicationOut,
    roles=REVIEWERS,
    errors=frozenset({404, 409}),
)
async def reject(
    request: web.Request, params: ApplicationParams, body: RejectIn
) -> ReviewedApplicationOut:
    """Reject a pending application with a reason the applicant sees (admins)"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        return await service.reject(
            uow,
            pii=runtime.pii,
            application_id=params.id,
            reason=body.reason,
            admin_id=request[USER_ID],
            ip=client_ip(request, request.app[SETTINGS].trust_forwarded_for),
            clock=runtime.clock,
        )
