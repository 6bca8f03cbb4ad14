"""Conversations: start one with a persona (about an item the user may see, or about anything),
list, rename, switch memory off, delete; and read their messages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from models.tutor.conversations import Conversation, TutorMessage
from server.content.items import access
from server.db import UnitOfWork
from server.http.errors import Conflict, NotFound
from server.http.pagination import InvalidCursor, Page, decode_cursor, id_before, page_of
from server.tutor.catalog import service as catalog
from server.tutor.conversations.schemas import ConversationOut, MessageOut


class ConversationNotFound(NotFound):
    code, message = "tutor.conversation_not_found", "No such conversation."


class ContentNotFound(NotFound):
    code, message = "content.not_found", "No such content."


class RunInProgress(Conflict):
    code, message = (
        "tutor.run_in_progress",
        "An answer is still being written in this conversation; wait for it or stop it.",
    )


def conversation_out(row: Conversation) -> ConversationOut:
    return ConversationOut(
        id=row.id,
        persona_id=row.persona_id,
        content_id=row.content_id,
        title=row.title,
        memory_enabled=row.memory_enabled,
        active_run_id=row.active_run_id,
        created_at=row.created_at,
        last_activity_at=row.last_activity_at,
    )


def message_out(row: Any) -> MessageOut:
    return MessageOut(
        id=row.id,
        conversation_id=row.conversation_id,
        role=row.role,
        body=row.body,
        run_id=row.run_id,
        citations=row.citations,
        usage=row.usage,
        cost_credits=row.cost_credits,
        finish_reason=row.finish_reason,
        created_at=row.created_at,
    )


async def start(
    uow: UnitOfWork,
    *,
    user_id: int,
    roles: frozenset[str],
    persona_id: int,
    content_id: int | None,
    title: str | None,
    now: datetime,
) -> Conversation:
    """A new conversation; about an item only if the user may see it (even in preview)."""
    session = uow.session
    persona = await catalog.get_active_persona(session, persona_id=persona_id)
    if content_id is not None:
        viewer = access.Viewer(user_id, roles)
        level = await access.level_of(session, viewer=viewer, content_id=content_id, now=now)
        if level is access.Level.NONE:
            raise ContentNotFound()
    row = Conversation(
        user_id=user_id,
        persona_id=persona.id,
        content_id=content_id,
        title=title,
        memory_enabled=persona.memory,
        created_at=now,
        last_activity_at=now,
    )
    session.add(row)
    await session.flush()
    return row


async def owned(reader: AsyncSession, *, user_id: int, conversation_id: int) -> Conversation:
    """The user's conversation, or ConversationNotFound (someone else's does not exist for them)."""
    row = await reader.scalar(
        select(Conversation).where(
            Conversation.id == conversation_id, Conversation.user_id == user_id
        )
    )
    if row is None:
        raise ConversationNotFound()
    return row


async def lock_owned(uow: UnitOfWork, *, user_id: int, conversation_id: int) -> Conversation:
    """The user's conversation, its row locked until commit (one run at a time)."""
    row = await uow.session.scalar(
        select(Conversation)
        .where(Conversation.id == conversation_id, Conversation.user_id == user_id)
        .with_for_update()
    )
    if row is None:
        raise ConversationNotFound()
    return row


async def update(
    uow: UnitOfWork,
    *,
    user_id: int,
    conversation_id: int,
    title: str | None,
    memory_enabled: bool | None,
) -> Conversation:
    row = await lock_owned(uow, user_id=user_id, conversation_id=conversation_id)
    if title is not None:
        row.title = title
    if memory_enabled is not None:
        row.memory_enabled = memory_enabled
    await uow.session.flush()
    return row


async def remove(uow: UnitOfWork, *, user_id: int, conversation_id: int) -> None:
    """Delete a conversation with its messages, summary and runs (billing stays in the ledger);
    not while an answer is being written."""
    row = await lock_owned(uow, user_id=user_id, conversation_id=conversation_id)
    if row.active_run_id is not None:
        raise RunInProgress()
    await uow.session.execute(delete(Conversation).where(Conversation.id == row.id))


async def list_mine(
    reader: AsyncSession, *, user_id: int, limit: int, cursor: str | None
) -> Page[ConversationOut]:
    """The user's conversations, most recently active first."""
    query = select(Conversation).where(Conversation.user_id == user_id)
    position = decode_cursor(cursor)
    if position is not None:
        try:
            at = datetime.fromisoformat(str(position["at"]))
            last = int(position["id"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidCursor() from exc
        query = query.where(
            tuple_(Conversation.last_activity_at, Conversation.id) < tuple_(at, last)
        )
    rows = (
        await reader.scalars(
            query.order_by(Conversation.last_activity_at.desc(), Conversation.id.desc()).limit(
                limit + 1
            )
        )
    ).all()
    return page_of(
        [conversation_out(row) for row in rows],
        limit,
        lambda item: {"at": item.last_activity_at.isoformat(), "id": item.id},
    )


async def messages(
    reader: AsyncSession, *, user_id: int, conversation_id: int, limit: int, cursor: str | None
) -> Page[MessageOut]:
    """A conversation's messages, newest first."""
    await owned(reader, user_id=user_id, conversation_id=conversation_id)
    query = select(TutorMessage).where(TutorMessage.conversation_id == conversation_id)
    before = id_before(cursor)
    if before is not None:
        query = query.where(TutorMessage.id < before)
    rows = (await reader.scalars(query.order_by(TutorMessage.id.desc()).limit(limit + 1))).all()
    return page_of([message_out(row) for row in rows], limit, lambda item: {"id": item.id})
