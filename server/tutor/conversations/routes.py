"""HTTP routes: tutor conversations and their messages."""

from __future__ import annotations

from aiohttp import web

from server.content.items.access import viewer_of
from server.http.pagination import Page, PageQuery
from server.http.registry import RouteTable
from server.keys import RUNTIME, USER_ID
from server.tutor.conversations import service
from server.tutor.conversations.schemas import (
    ConversationIn,
    ConversationOut,
    ConversationPatch,
    ConversationPath,
    MessageOut,
)

routes = RouteTable(
    "tutor", "AI tutor: personas, conversations, streamed answers billed per token."
)


@routes.post(
    "/api/v1/tutor/conversations",
    body=ConversationIn,
    response=ConversationOut,
    status=201,
    errors=frozenset({404}),
    description="Starts a conversation with an active persona, about an item the caller may see "
    "(`content_id`, 404 otherwise) or about anything the caller may read.",
)
async def start_conversation(request: web.Request, body: ConversationIn) -> ConversationOut:
    """Start a conversation"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        row = await service.start(
            uow,
            user_id=request[USER_ID],
            roles=viewer_of(request).roles,
            persona_id=body.persona_id,
            content_id=body.content_id,
            title=body.title,
            now=runtime.clock.now(),
        )
        return service.conversation_out(row)


@routes.get("/api/v1/tutor/conversations", query=PageQuery, response=Page[ConversationOut])
async def list_conversations(request: web.Request, query: PageQuery) -> Page[ConversationOut]:
    """My conversations, most recently active first"""
    async with request.app[RUNTIME].db.read() as session:
        return await service.list_mine(
            session, user_id=request[USER_ID], limit=query.limit, cursor=query.cursor
        )


@routes.get(
    "/api/v1/tutor/conversations/{conversation_id}",
    params=ConversationPath,
    response=ConversationOut,
)
async def get_conversation(request: web.Request, params: ConversationPath) -> ConversationOut:
    """One of my conversations"""
    async with request.app[RUNTIME].db.read() as session:
        row = await service.owned(
            session, user_id=request[USER_ID], conversation_id=params.conversation_id
        )
        return service.conversation_out(row)


@routes.patch(
    "/api/v1/tutor/conversations/{conversation_id}",
    params=ConversationPath,
    body=ConversationPatch,
    response=ConversationOut,
    description="Renames it, or turns its memory off (older turns are then neither sent to the "
    "model nor summarised) or on.",
)
async def update_conversation(
    request: web.Request, params: ConversationPath, body: ConversationPatch
) -> ConversationOut:
    """Rename a conversation or switch its memory"""
    async with request.app[RUNTIME].db.unit_of_work() as uow:
        row = await service.update(
            uow,
            user_id=request[USER_ID],
            conversation_id=params.conversation_id,
            title=body.title,
            memory_enabled=body.memory_enabled,
            now=request.app[RUNTIME].clock.now(),
        )
        return service.conversation_out(row)


@routes.delete(
    "/api/v1/tutor/conversations/{conversation_id}",
    params=ConversationPath,
    status=204,
    errors=frozenset({409}),
    description="Deletes it with its messages and summary; 409 `tutor.run_in_progress` while an "
    "answer is being written.",
)
async def delete_conversation(request: web.Request, params: ConversationPath) -> None:
    """Delete a conversation"""
    async with request.app[RUNTIME].db.unit_of_work() as uow:
        await service.remove(uow, user_id=request[USER_ID], conversation_id=params.conversation_id)


@routes.get(
    "/api/v1/tutor/conversations/{conversation_id}/messages",
    params=ConversationPath,
    query=PageQuery,
    response=Page[MessageOut],
)
async def list_messages(
    request: web.Request, params: ConversationPath, query: PageQuery
) -> Page[MessageOut]:
    """A conversation's messages, newest first"""
    async with request.app[RUNTIME].db.read() as session:
        return await service.messages(
            session,
            user_id=request[USER_ID],
            conversation_id=params.conversation_id,
            limit=query.limit,
            cursor=query.cursor,
        )
