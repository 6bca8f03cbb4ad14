"""Routes that exist only in tests, to exercise the HTTP plumbing with every kind of input."""

from __future__ import annotations

import asyncio
from typing import Literal

from aiohttp import web
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from server.http.errors import Conflict, Unauthorized
from server.http.pagination import Page, PageQuery, decode_cursor, page_of
from server.http.registry import RouteTable
from server.keys import RUNTIME, USER_ID
from tests.helpers.env import RUN_PREFIX

routes = RouteTable("probe", "Test-only routes.")


class EchoIn(BaseModel):
    text: str = Field(min_length=1, max_length=50)
    count: int = Field(1, ge=1, le=10)
    mood: Literal["happy", "sad"] = "happy"


class EchoOut(BaseModel):
    text: str
    effects: int


class ItemPath(BaseModel):
    item_id: int = Field(ge=1)


class Item(BaseModel):
    id: int


async def header_user(request: web.Request) -> int:
    """Stands in for token authentication: the user id from a test header."""
    value = request.headers.get("X-Test-User")
    if not value or not value.isdigit():
        raise Unauthorized()
    return int(value)


@routes.post("/api/v1/probe/echo", body=EchoIn, response=EchoOut, status=201, idempotent=True)
async def echo(request: web.Request, body: EchoIn) -> EchoOut:
    """Count one effect in Redis, slowly enough for concurrent repeats to overlap."""
    runtime = request.app[RUNTIME]
    assert runtime.redis is not None
    effects = await runtime.redis.incr(f"{RUN_PREFIX}:probe:effects:{request[USER_ID]}")
    await asyncio.sleep(0.05)
    if body.text == "conflict":
        raise Conflict("probe conflict", code="probe.conflict")
    return EchoOut(text=body.text * body.count, effects=effects)


@routes.get("/api/v1/probe/items/{item_id}", params=ItemPath, response=Item, auth=False)
async def get_item(request: web.Request, params: ItemPath) -> Item:
    return Item(id=params.item_id)


@routes.get("/api/v1/probe/items", query=PageQuery, response=Page[Item], auth=False)
async def list_items(request: web.Request, query: PageQuery) -> Page[Item]:
    after = (decode_cursor(query.cursor) or {}).get("after", 0)
    rows = [Item(id=i) for i in range(after + 1, min(after + query.limit + 1, 45) + 1)]
    return page_of(rows, query.limit, lambda item: {"after": item.id})


@routes.get("/api/v1/probe/boom", auth=False)
async def boom(request: web.Request) -> None:
    raise RuntimeError("secret detail that must not leak")


@routes.get("/api/v1/probe/whoami", response=Item)
async def whoami(request: web.Request) -> Item:
    return Item(id=request[USER_ID])


@routes.post("/api/v1/probe/form", auth=False)
async def read_form(request: web.Request) -> dict[str, list[str]]:
    """Parse a form body the way aiohttp does, with no error handling of its own."""
    form = await request.post()
    return {"fields": sorted(form)}


@routes.post("/api/v1/probe/effect", body=EchoIn, response=EchoOut, status=201, idempotent=True)
async def effect(request: web.Request, body: EchoIn) -> EchoOut:
    """Commit a transaction (the effect) and count it; then, for "lost", the database fails, and
    "refused" is refused."""
    runtime = request.app[RUNTIME]
    assert runtime.redis is not None
    async with runtime.db.unit_of_work() as uow:
        await uow.session.execute(text("SELECT 1"))
    effects = await runtime.redis.incr(f"{RUN_PREFIX}:probe:effects:{request[USER_ID]}")
    if body.text == "lost":
        raise OperationalError("SELECT", None, ConnectionError("lost connection"))
    if body.text == "refused":
        raise Conflict("probe conflict", code="probe.conflict")
    return EchoOut(text=body.text, effects=effects)
