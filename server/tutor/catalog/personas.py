"""Personas: administrators keep them; users see the active ones in the catalogue."""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import delete as delete_rows
from sqlalchemy import exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models.tutor.catalog import Persona, TutorModel
from models.tutor.conversations import Conversation
from server.http.errors import ValidationFailed
from server.http.pagination import Page, id_before, page_of
from server.tutor.catalog.schemas import (
    PersonaCreate,
    PersonaOut,
    PersonaPatch,
    PersonaRemovedOut,
    PriceOut,
    PublicPersonaOut,
)
from server.tutor.catalog.service import Actor, PersonaNotFound, has_tag


def persona_out(row: Persona) -> PersonaOut:
    return PersonaOut.model_validate(row, from_attributes=True)


async def _persona_row(session: AsyncSession, persona_id: int, *, lock: bool = False) -> Persona:
    query = select(Persona).where(Persona.id == persona_id)
    row = (await session.execute(query.with_for_update() if lock else query)).scalar_one_or_none()
    if row is None:
        raise PersonaNotFound()
    return row


async def get_persona(session: AsyncSession, *, persona_id: int) -> PersonaOut:
    """A persona whatever its status (administrators)."""
    return persona_out(await _persona_row(session, persona_id))


async def list_personas(
    session: AsyncSession, *, status: str | None, tag: str | None, limit: int, cursor: str | None
) -> Page[PersonaOut]:
    """Personas of every status, newest first."""
    query = select(Persona).order_by(Persona.id.desc()).limit(limit + 1)
    before = id_before(cursor)
    if before is not None:
        query = query.where(Persona.id < before)
    if status is not None:
        query = query.where(Persona.status == status)
    if tag is not None:
        query = query.where(has_tag(session.get_bind().dialect.name, tag))
    rows = (await session.execute(query)).scalars().all()
    return page_of([persona_out(row) for row in rows], limit, lambda item: {"id": item.id})


async def public_personas(
    session: AsyncSession, *, tag: str | None, limit: int, cursor: str | None
) -> Page[PublicPersonaOut]:
    """Active personas of enabled models, newest first, with the model's name and prices.

    Two queries whatever the page size: the enabled models (a short list), then a page of
    personas down their (status, id) index. A join would let MariaDB start from the few models
    and sort all their personas."""
    before = id_before(cursor)
    models = {
        row.id: PriceOut(
            name=row.name,
            prompt_credits_per_1k=row.prompt_credits_per_1k,
            completion_credits_per_1k=row.completion_credits_per_1k,
        )
        for row in await session.execute(
            select(
                TutorModel.id,
                TutorModel.name,
                TutorModel.prompt_credits_per_1k,
                TutorModel.completion_credits_per_1k,
            ).where(TutorModel.enabled.is_(True), TutorModel.kind == "chat")
        )
    }
    if not models:
        return Page[PublicPersonaOut](items=[], next_cursor=None)
    query = (
        select(*_PUBLIC_COLUMNS)
        .where(Persona.status == "active", Persona.model_id.in_(sorted(models)))
        .order_by(Persona.id.desc())
        .limit(limit + 1)
    )
    if before is not None:
        query = query.where(Persona.id < before)
    if tag is not None:
        query = query.where(has_tag(session.get_bind().dialect.name, tag))
    items = [
        PublicPersonaOut(
            id=row.id,
            name=row.name,
            avatar_url=row.avatar_url,
            description=row.description,
            tags=list(row.tags or []),
            retrieval=row.retrieval,
            memory=row.memory,
            model=models[row.model_id],
        )
        for row in await session.execute(query)
    ]
    return page_of(items, limit, lambda item: {"id": item.id})


_PUBLIC_COLUMNS = (
    Persona.id,
    Persona.name,
    Persona.avatar_url,
    Persona.description,
    Persona.tags,
    Persona.retrieval,
    Persona.memory,
    Persona.model_id,
)


async def _check_chat_model(session: AsyncSession, model_id: int) -> None:
    kind = await session.scalar(select(TutorModel.kind).where(TutorModel.id == model_id))
    if kind != "chat":
        reason = "No such model." if kind is None else "A persona answers with a chat model."
        raise ValidationFailed(code="tutor.model_invalid", fields={"body.model_id": reason})


async def create_persona(
    session: AsyncSession, *, persona: PersonaCreate, actor: Actor
) -> PersonaOut:
    """Add a persona answering with a chat model."""
    await _check_chat_model(session, persona.model_id)
    values = persona.model_dump(mode="json")
    now = actor.now
    row = Persona(**values, created_at=now, updated_at=now)
    session.add(row)
    await session.flush()
    await actor.record(
        session, "tutor.persona_created", "tutor_persona", row.id, **_audited(values)
    )
    return persona_out(row)


def _audited(values: dict[str, Any]) -> dict[str, Any]:
    """What the audit log keeps of a persona change: the prompt's length, not the prompt."""
    if "system_prompt" in values:
        values = {**values, "system_prompt": f"<{len(values['system_prompt'])} characters>"}
    return values


async def update_persona(
    session: AsyncSession, *, persona_id: int, changes: PersonaPatch, actor: Actor
) -> PersonaOut:
    """Change a persona; a new model must be a chat model."""
    row = await _persona_row(session, persona_id, lock=True)
    if changes.model_id is not None:
        await _check_chat_model(session, changes.model_id)
    values = changes.model_dump(mode="json", include=changes.model_fields_set)
    for name, value in values.items():
        setattr(row, name, value)
    row.updated_at = actor.now
    await session.flush()
    await actor.record(
        session, "tutor.persona_updated", "tutor_persona", row.id, **_audited(values)
    )
    return persona_out(row)


async def remove_persona(
    session: AsyncSession, *, persona_id: int, actor: Actor
) -> PersonaRemovedOut:
    """Delete a persona no conversation uses; archive one that conversations still hold (they
    keep their persona, and nobody starts a new one with it)."""
    row = await _persona_row(session, persona_id, lock=True)
    used = await session.scalar(select(exists().where(Conversation.persona_id == row.id)))
    outcome: Literal["deleted", "archived"] = "archived"
    if not used:
        try:
            async with session.begin_nested():
                await session.execute(delete_rows(Persona).where(Persona.id == row.id))
            outcome = "deleted"
        except IntegrityError:  # a conversation started with it meanwhile
            pass
    if outcome == "archived":
        await session.execute(
            update(Persona)
            .where(Persona.id == row.id)
            .values(status="archived", updated_at=actor.now)
        )
    await actor.record(session, f"tutor.persona_{outcome}", "tutor_persona", persona_id)
    return PersonaRemovedOut(id=persona_id, outcome=outcome)
