"""The tutor catalogue: AI models (provider routes and prices) and the personas that answer.

Models and personas are the administrators'; users see only active personas of enabled models,
without their system prompts (`public_personas`). The run code reads a persona with
`get_active_persona` and its model with `get_model`; retrieval finds `embedding_model`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy import delete as delete_rows
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models.tutor.catalog import Persona, TutorModel
from server.audit import record_admin_action
from server.clock import Clock
from server.db import Reader
from server.http.errors import Conflict, NotFound, ValidationFailed
from server.http.pagination import Page, id_before, page_of
from server.settings import Settings
from server.tutor.catalog.schemas import (
    ModelCreate,
    ModelOut,
    ModelPatch,
    ModelRoute,
)


class ModelNotFound(NotFound):
    code, message = "tutor.model_not_found", "No such model."


class ModelNameTaken(Conflict):
    code, message = "tutor.model_name_taken", "Another model has this name."


class ModelInUse(Conflict):
    code, message = (
        "tutor.model_in_use",
        "Personas answer with this model; disable it (enabled: false) or move them first.",
    )


class PersonaNotFound(NotFound):
    code, message = "tutor.persona_not_found", "No such persona."


@dataclass(frozen=True)
class Actor:
    """The administrator changing the catalogue: for the audit log and the time."""

    admin_id: int
    ip: str | None
    clock: Clock

    @property
    def now(self) -> datetime:
        return self.clock.now()

    async def record(
        self, session: AsyncSession, action: str, target_type: str, target_id: int, **detail: Any
    ) -> None:
        await record_admin_action(
            session,
            admin_id=self.admin_id,
            action=action,
            target_type=target_type,
            target_id=target_id,
            detail=detail,
            ip=self.ip,
            clock=self.clock,
        )


def configured_providers(settings: Settings) -> list[str]:
    """The provider names of `AI_PROVIDERS` (`deepseek, qwen`), lower-cased, each once."""
    names = (name.strip().lower() for name in settings.ai_providers.split(","))
    return list(dict.fromkeys(name for name in names if name))


def _check_routes(routes: list[ModelRoute], settings: Settings) -> None:
    known = set(configured_providers(settings))
    fields = {
        f"body.routes.{index}.provider": f"Unknown provider; configured: {sorted(known) or 'none'}."
        for index, route in enumerate(routes)
        if route.provider not in known
    }
    if fields:
        raise ValidationFailed(code="tutor.unknown_provider", fields=fields)


def model_out(row: TutorModel) -> ModelOut:
    return ModelOut.model_validate(row, from_attributes=True)


async def _model_row(session: AsyncSession, model_id: int, *, lock: bool = False) -> TutorModel:
    query = select(TutorModel).where(TutorModel.id == model_id)
    row = (await session.execute(query.with_for_update() if lock else query)).scalar_one_or_none()
    if row is None:
        raise ModelNotFound()
    return row


async def get_model(session: AsyncSession, *, model_id: int) -> TutorModel:
    """A model, enabled or not; ModelNotFound (404 `tutor.model_not_found`) when missing."""
    return await _model_row(session, model_id)


async def embedding_model(session: AsyncSession) -> TutorModel | None:
    """The enabled embedding model with the lowest id, if there is one."""
    query = (
        select(TutorModel)
        .where(TutorModel.kind == "embedding", TutorModel.enabled.is_(True))
        .order_by(TutorModel.id)
        .limit(1)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def list_models(
    reader: Reader, *, kind: str | None, enabled: bool | None, limit: int, cursor: str | None
) -> Page[ModelOut]:
    """Models, newest first."""
    query = select(TutorModel).order_by(TutorModel.id.desc()).limit(limit + 1)
    before = id_before(cursor)
    if before is not None:
        query = query.where(TutorModel.id < before)
    if kind is not None:
        query = query.where(TutorModel.kind == kind)
    if enabled is not None:
        query = query.where(TutorModel.enabled.is_(enabled))
    rows = (await reader.execute(query)).scalars().all()
    return page_of([model_out(row) for row in rows], limit, lambda item: {"id": item.id})


async def _flush_named(session: AsyncSession) -> None:
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:  # the unique name, taken by another (maybe concurrent) model
        raise ModelNameTaken() from exc


async def _name_taken(session: AsyncSession, name: str, *, other_than: int | None = None) -> bool:
    query = select(TutorModel.id).where(TutorModel.name == name)
    if other_than is not None:
        query = query.where(TutorModel.id != other_than)
    return (await session.scalar(query.limit(1))) is not None


async def create_model(
    session: AsyncSession, *, model: ModelCreate, settings: Settings, actor: Actor
) -> ModelOut:
    """Add a model; its providers must be configured and its name free."""
    _check_routes(model.routes, settings)
    if await _name_taken(session, model.name):
        raise ModelNameTaken()
    values = model.model_dump(mode="json")
    now = actor.now
    row = TutorModel(**values, created_at=now, updated_at=now)
    session.add(row)
    await _flush_named(session)
    await actor.record(session, "tutor.model_created", "tutor_model", row.id, **values)
    return model_out(row)


async def _personas_using(session: AsyncSession, model_id: int) -> bool:
    query = select(Persona.id).where(Persona.model_id == model_id).limit(1)
    return (await session.scalar(query)) is not None


async def update_model(
    session: AsyncSession, *, model_id: int, changes: ModelPatch, settings: Settings, actor: Actor
) -> ModelOut:
    """Change a model; a model personas use stays a chat model."""
    row = await _model_row(session, model_id, lock=True)
    values = changes.model_dump(mode="json", include=changes.model_fields_set)
    if changes.routes is not None:
        _check_routes(changes.routes, settings)
    if changes.name is not None and await _name_taken(session, changes.name, other_than=row.id):
        raise ModelNameTaken()
    if changes.kind not in (None, row.kind) and await _personas_using(session, row.id):
        raise ModelInUse("Personas answer with this model: it stays a chat model.")
    for name, value in values.items():
        setattr(row, name, value)
    row.updated_at = actor.now
    await _flush_named(session)
    await actor.record(session, "tutor.model_updated", "tutor_model", row.id, **values)
    return model_out(row)


async def delete_model(session: AsyncSession, *, model_id: int, actor: Actor) -> None:
    """Remove a model no persona uses (else 409 `tutor.model_in_use`: disable it instead)."""
    row = await _model_row(session, model_id, lock=True)
    if await _personas_using(session, row.id):
        raise ModelInUse()
    try:
        async with session.begin_nested():
            await session.execute(delete_rows(TutorModel).where(TutorModel.id == row.id))
    except IntegrityError as exc:  # a persona took it up meanwhile
        raise ModelInUse() from exc
    await actor.record(session, "tutor.model_deleted", "tutor_model", model_id, name=row.name)


async def get_active_persona(session: AsyncSession, *, persona_id: int) -> Persona:
    """An active persona whose model is enabled; PersonaNotFound (404
    `tutor.persona_not_found`) when it is missing, not active, or its model is disabled. The
    model is loaded with it (`session.get(TutorModel, persona.model_id)` then reads no row)."""
    query = (
        select(Persona, TutorModel)
        .join(TutorModel, TutorModel.id == Persona.model_id)
        .where(Persona.id == persona_id, Persona.status == "active", TutorModel.enabled.is_(True))
    )
    row = (await session.execute(query)).first()
    if row is None:
        raise PersonaNotFound()
    return row[0]


def has_tag(dialect: str, tag: str) -> ColumnElement[bool]:
    """Whether a persona's JSON `tags` hold `tag` (the one dialect branch for it)."""
    if dialect == "mysql":
        # Spelled as the column stores it (json.dumps, non-ASCII escaped): MariaDB compares
        # escaped strings as written.
        return func.json_contains(Persona.tags, json.dumps(tag)) == 1
    each = func.json_each(Persona.tags).table_valued("value")
    return select(each.c.value).where(each.c.value == tag).exists()
