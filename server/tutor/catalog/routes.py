"""HTTP routes: the tutor catalogue for administrators (models, personas) and for users."""

from __future__ import annotations

from aiohttp import web

from server.http.limits import client_ip
from server.http.pagination import Page
from server.http.registry import RouteTable
from server.keys import RUNTIME, SETTINGS, USER_ID
from server.tutor.catalog import personas, service
from server.tutor.catalog.schemas import (
    ModelCreate,
    ModelListQuery,
    ModelOut,
    ModelPatch,
    ModelPath,
    PersonaCreate,
    PersonaListQuery,
    PersonaOut,
    PersonaPatch,
    PersonaPath,
    PersonaRemovedOut,
    PublicPersonaOut,
    PublicPersonaQuery,
)

routes = RouteTable("tutor_catalog", "The AI tutor's models and personas.")

ADMIN = ("admin",)
MODELS = "/api/v1/admin/tutor/models"
PERSONAS = "/api/v1/admin/tutor/personas"


def actor(request: web.Request) -> service.Actor:
    """The calling administrator, for the audit log."""
    return service.Actor(
        admin_id=request[USER_ID],
        ip=client_ip(request, request.app[SETTINGS].trust_forwarded_for),
        clock=request.app[RUNTIME].clock,
    )


@routes.get(MODELS, query=ModelListQuery, response=Page[ModelOut], roles=ADMIN)
async def list_models(request: web.Request, query: ModelListQuery) -> Page[ModelOut]:
    """Tutor models, newest first"""
    async with request.app[RUNTIME].db.read() as session:
        return await service.list_models(
            session, kind=query.kind, enabled=query.enabled, limit=query.limit, cursor=query.cursor
        )


@routes.post(
    MODELS,
    body=ModelCreate,
    response=ModelOut,
    status=201,
    roles=ADMIN,
    errors=frozenset({409}),
    description="Providers must be configured (AI_PROVIDERS); the name is unique "
    "(409 `tutor.model_name_taken`).",
)
async def create_model(request: web.Request, body: ModelCreate) -> ModelOut:
    """Add a tutor model"""
    async with request.app[RUNTIME].db.unit_of_work() as uow:
        return await service.create_model(
            uow.session, model=body, settings=request.app[SETTINGS], actor=actor(request)
        )


@routes.get(f"{MODELS}/{{id}}", params=ModelPath, response=ModelOut, roles=ADMIN)
async def get_model(request: web.Request, params: ModelPath) -> ModelOut:
    """One tutor model"""
    async with request.app[RUNTIME].db.read() as session:
        return service.model_out(await service.get_model(session, model_id=params.id))


@routes.patch(
    f"{MODELS}/{{id}}",
    params=ModelPath,
    body=ModelPatch,
    response=ModelOut,
    roles=ADMIN,
    errors=frozenset({409}),
)
async def update_model(request: web.Request, params: ModelPath, body: ModelPatch) -> ModelOut:
    """Change a tutor model (disable it to take its personas out of the catalogue)"""
    async with request.app[RUNTIME].db.unit_of_work() as uow:
        return await service.update_model(
            uow.session,
            model_id=params.id,
            changes=body,
            settings=request.app[SETTINGS],
            actor=actor(request),
        )


@routes.delete(
    f"{MODELS}/{{id}}",
    params=ModelPath,
    status=204,
    roles=ADMIN,
    errors=frozenset({409}),
    description="A model personas use is 409 `tutor.model_in_use`: disable it instead.",
)
async def delete_model(request: web.Request, params: ModelPath) -> None:
    """Remove a tutor model no persona uses"""
    async with request.app[RUNTIME].db.unit_of_work() as uow:
        await service.delete_model(uow.session, model_id=params.id, actor=actor(request))


@routes.get(PERSONAS, query=PersonaListQuery, response=Page[PersonaOut], roles=ADMIN)
async def list_personas(request: web.Request, query: PersonaListQuery) -> Page[PersonaOut]:
    """Personas of every status, newest first"""
    async with request.app[RUNTIME].db.read() as session:
        return await personas.list_personas(
            session, status=query.status, tag=query.tag, limit=query.limit, cursor=query.cursor
        )


@routes.post(PERSONAS, body=PersonaCreate, response=PersonaOut, status=201, roles=ADMIN)
async def create_persona(request: web.Request, body: PersonaCreate) -> PersonaOut:
    """Add a persona (its model must be a chat model)"""
    async with request.app[RUNTIME].db.unit_of_work() as uow:
        return await personas.create_persona(uow.session, persona=body, actor=actor(request))


@routes.get(f"{PERSONAS}/{{id}}", params=PersonaPath, response=PersonaOut, roles=ADMIN)
async def get_persona(request: web.Request, params: PersonaPath) -> PersonaOut:
    """One persona, system prompt included"""
    async with request.app[RUNTIME].db.read() as session:
        return await personas.get_persona(session, persona_id=params.id)


@routes.patch(
    f"{PERSONAS}/{{id}}", params=PersonaPath, body=PersonaPatch, response=PersonaOut, roles=ADMIN
)
async def update_persona(
    request: web.Request, params: PersonaPath, body: PersonaPatch
) -> PersonaOut:
    """Change a persona"""
    async with request.app[RUNTIME].db.unit_of_work() as uow:
        return await personas.update_persona(
            uow.session, persona_id=params.id, changes=body, actor=actor(request)
        )


@routes.delete(
    f"{PERSONAS}/{{id}}",
    params=PersonaPath,
    response=PersonaRemovedOut,
    roles=ADMIN,
    description="Deleted when no conversation uses the persona; archived otherwise "
    "(its conversations keep it, no new one starts with it).",
)
async def remove_persona(request: web.Request, params: PersonaPath) -> PersonaRemovedOut:
    """Remove a persona"""
    async with request.app[RUNTIME].db.unit_of_work() as uow:
        return await personas.remove_persona(
            uow.session, persona_id=params.id, actor=actor(request)
        )


@routes.get(
    "/api/v1/tutor/personas",
    query=PublicPersonaQuery,
    response=Page[PublicPersonaOut],
    auth=False,
    description="Active personas of enabled models, with what answering costs (credits per "
    "1,000 prompt and completion tokens). Open to everyone: it is a catalogue.",
)
async def public_personas(
    request: web.Request, query: PublicPersonaQuery
) -> Page[PublicPersonaOut]:
    """The tutor personas one may talk to"""
    async with request.app[RUNTIME].db.read() as session:
        return await personas.public_personas(
            session, tag=query.tag, limit=query.limit, cursor=query.cursor
        )
