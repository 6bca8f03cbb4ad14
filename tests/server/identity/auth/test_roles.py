"""Roles: a route declares the roles it needs; the registry checks them after authentication."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from aiohttp import web
from pydantic import BaseModel
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from models.identity.users import User
from server.http.errors import Forbidden
from server.http.guards import Principal, require_role
from server.http.registry import RouteTable
from tests.helpers.auth import bearer, error_code, register

admin_only = RouteTable("admin-probe", "Test-only route for admins.")


class Ok(BaseModel):
    ok: bool


@admin_only.get("/api/v1/probe/admin", response=Ok, roles={"admin"})
async def admin_probe(request: web.Request) -> Ok:
    return Ok(ok=True)


@pytest.fixture
async def guarded(make_client, auth_settings):
    return await make_client(auth_settings, extra_tables=[admin_only])


async def test_a_reader_gets_403_on_an_admin_route(guarded) -> None:
    data = await register(guarded)
    response = await guarded.get("/api/v1/probe/admin", headers=bearer(data["access_token"]))
    assert response.status == 403
    assert await error_code(response) == "auth.forbidden"


async def test_an_admin_passes_and_a_demotion_applies_within_the_cache_ttl(
    guarded, engine: AsyncEngine
) -> None:
    data = await register(guarded)
    async with engine.begin() as conn:
        await conn.execute(update(User).values(roles=["reader", "admin"]))
    await asyncio.sleep(0.25)
    ok = await guarded.get("/api/v1/probe/admin", headers=bearer(data["access_token"]))
    assert ok.status == 200
    async with engine.begin() as conn:
        await conn.execute(update(User).values(roles=["reader"]))
    await asyncio.sleep(0.25)
    denied = await guarded.get("/api/v1/probe/admin", headers=bearer(data["access_token"]))
    assert denied.status == 403


async def test_an_anonymous_caller_gets_401_not_403(guarded) -> None:
    assert (await guarded.get("/api/v1/probe/admin")).status == 401


async def test_the_openapi_document_declares_403_for_role_routes(guarded) -> None:
    document = await (await guarded.get("/api/openapi.json")).json()
    assert "403" in document["paths"]["/api/v1/probe/admin"]["get"]["responses"]


def test_a_route_with_roles_must_be_authenticated() -> None:
    table = RouteTable("bad")
    with pytest.raises(ValueError, match="authenticated"):
        table.get("/x", roles={"admin"}, auth=False)(admin_probe)


def principal(*roles: str) -> Principal:
    return Principal(1, 1, frozenset(roles), datetime.now(UTC))


def test_require_role_passes_with_any_one_of_the_roles() -> None:
    require_role(principal("reader", "moderator"), "moderator", "admin")


@pytest.mark.parametrize("holder", [principal("reader"), principal(), None])
def test_require_role_refuses_without_the_role(holder) -> None:
    with pytest.raises(Forbidden):
        require_role(holder, "admin")
