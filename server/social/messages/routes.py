"""HTTP routes: conversations and private messages."""

from __future__ import annotations

from functools import partial

from aiohttp import web

from server.http.pagination import Page, PageQuery
from server.http.registry import RouteTable
from server.keys import RUNTIME, USER_ID
from server.social.messages import conversations, queries, receipts, service
from server.social.messages.schemas import (
    ConversationCreate,
    ConversationOut,
    ConversationPath,
    DeliveredOut,
    MessageOut,
    MessagePath,
    MessageSearchQuery,
    MessageSend,
    ReadIn,
    ReadOut,
    UnreadOut,
)
from server.social.presence import service as presence

routes = RouteTable("messages", "Private conversations: messages, receipts, recall and search.")


@routes.post(
    "/api/v1/conversations",
    body=ConversationCreate,
    response=ConversationOut,
    status=201,
    errors=frozenset({403, 404}),
    description="One other user: the direct conversation with them (the same one every time). "
    "Several: a new group (up to CONVERSATION_MAX_MEMBERS). Blocks and each user's "
    "`who_can_message` apply (403 `messages.not_allowed`).",
)
async def open_conversation(request: web.Request, body: ConversationCreate) -> ConversationOut:
    """Open a conversation"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        conversation, _made = await conversations.open_conversation(
            uow,
            user_id=request[USER_ID],
            others=body.user_ids,
            title=body.title,
            settings=runtime.settings,
            now=runtime.clock.now(),
        )
    return conversation


@routes.get("/api/v1/conversations", query=PageQuery, response=Page[ConversationOut])
async def list_conversations(request: web.Request, query: PageQuery) -> Page[ConversationOut]:
    """My conversations, most recently active first"""
    async with request.app[RUNTIME].db.read() as session:
        return await queries.list_conversations(
            session, user_id=request[USER_ID], limit=query.limit, cursor=query.cursor
        )


@routes.get("/api/v1/conversations/{id}", params=ConversationPath, response=ConversationOut)
async def get_conversation(request: web.Request, params: ConversationPath) -> ConversationOut:
    """One of my conversations"""
    async with request.app[RUNTIME].db.read() as session:
        return await queries.get_conversation(
            session, conversation_id=params.id, user_id=request[USER_ID]
        )


@routes.get(
    "/api/v1/conversations/{id}/messages",
    params=ConversationPath,
    query=PageQuery,
    response=Page[MessageOut],
    description="Newest first, without the messages you deleted for yourself.",
)
async def list_messages(
    request: web.Request, params: ConversationPath, query: PageQuery
) -> Page[MessageOut]:
    """A conversation's messages"""
    async with request.app[RUNTIME].db.read() as session:
        return await queries.list_messages(
            session,
            conversation_id=params.id,
            user_id=request[USER_ID],
            limit=query.limit,
            cursor=query.cursor,
        )


@routes.post(
    "/api/v1/conversations/{id}/messages",
    params=ConversationPath,
    body=MessageSend,
    response=MessageOut,
    status=201,
    idempotent=True,
    errors=frozenset({403, 409}),
    description="Every member's devices get `message.created`. A retry with the same "
    "`client_message_id` answers the first message and sends nothing again (also over the "
    "socket's `message.send`).",
)
async def send_message(
    request: web.Request, params: ConversationPath, body: MessageSend
) -> MessageOut:
    """Send a message"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        message, _new = await service.send_message(
            uow,
            sender_id=request[USER_ID],
            conversation_id=params.id,
            body=body,
            settings=runtime.settings,
            now=runtime.clock.now(),
            online=partial(presence.online_ids, runtime),
        )
    return message


@routes.post(
    "/api/v1/conversations/{id}/read",
    params=ConversationPath,
    body=ReadIn,
    response=ReadOut,
    description="Never moves back. The members get `message.read`.",
)
async def mark_read(request: web.Request, params: ConversationPath, body: ReadIn) -> ReadOut:
    """Mark messages read"""
    async with request.app[RUNTIME].db.unit_of_work() as uow:
        return await receipts.mark_read(
            uow, user_id=request[USER_ID], conversation_id=params.id, message_id=body.message_id
        )


@routes.post(
    "/api/v1/conversations/{id}/delivered",
    params=ConversationPath,
    body=ReadIn,
    response=DeliveredOut,
    description="A device received everything up to this message (never moves back); the "
    "members get `message.delivered`. Also the socket event `message.delivered`.",
)
async def mark_delivered(
    request: web.Request, params: ConversationPath, body: ReadIn
) -> DeliveredOut:
    """Confirm messages received"""
    async with request.app[RUNTIME].db.unit_of_work() as uow:
        return await receipts.mark_delivered(
            uow, user_id=request[USER_ID], conversation_id=params.id, message_id=body.message_id
        )


@routes.post(
    "/api/v1/messages/{id}/recall",
    params=MessagePath,
    response=MessageOut,
    errors=frozenset({403, 409}),
    description="The sender only, within MESSAGE_RECALL_SECONDS; members get `message.recalled`.",
)
async def recall_message(request: web.Request, params: MessagePath) -> MessageOut:
    """Recall a message"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        return await service.recall(
            uow,
            user_id=request[USER_ID],
            message_id=params.id,
            settings=runtime.settings,
            now=runtime.clock.now(),
        )


@routes.delete("/api/v1/messages/{id}", params=MessagePath, status=204)
async def delete_message(request: web.Request, params: MessagePath) -> None:
    """Delete a message for yourself"""
    async with request.app[RUNTIME].db.unit_of_work() as uow:
        await service.hide(uow, user_id=request[USER_ID], message_id=params.id)


@routes.get("/api/v1/me/messages/unread", response=UnreadOut)
async def unread(request: web.Request) -> UnreadOut:
    """My unread messages in total"""
    async with request.app[RUNTIME].db.read() as session:
        return UnreadOut(total=await queries.total_unread(session, user_id=request[USER_ID]))


@routes.get("/api/v1/me/messages/search", query=MessageSearchQuery, response=Page[MessageOut])
async def search(request: web.Request, query: MessageSearchQuery) -> Page[MessageOut]:
    """Search my messages"""
    async with request.app[RUNTIME].db.read() as session:
        return await queries.search_messages(
            session, user_id=request[USER_ID], q=query.q, limit=query.limit, cursor=query.cursor
        )
