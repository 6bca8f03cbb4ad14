"""Reads of conversations and messages: a constant number of queries per page."""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, func, select

from models.identity.users import User
from models.social.messages import (
    Conversation,
    ConversationMember,
    HiddenMessage,
    Message,
    MessageToken,
)
from server.content.search import tokenizer
from server.db import Reader
from server.http.errors import NotFound, ValidationFailed
from server.http.pagination import InvalidCursor, Page, decode_cursor, encode_cursor
from server.identity.users import service as users
from server.social.messages.schemas import ConversationOut, MessageOut, Receipt


class ConversationNotFound(NotFound):
    code, message = "messages.conversation_not_found", "There is no such conversation."


class EmptySearch(ValidationFailed):
    code, message = "messages.empty_query", "The search has no words to look for."


MESSAGE_COLUMNS = (
    Message.id,
    Message.conversation_id,
    Message.sender_id,
    Message.client_message_id,
    Message.body,
    Message.attachments,
    Message.recalled_at,
    Message.created_at,
)


def message_out(row: Any) -> MessageOut:
    recalled = row.recalled_at is not None
    return MessageOut.model_construct(
        id=row.id,
        conversation_id=row.conversation_id,
        sender_id=row.sender_id,
        client_message_id=row.client_message_id,
        body="" if recalled else row.body,
        attachments=[] if recalled else list(row.attachments or []),
        recalled=recalled,
        created_at=row.created_at,
    )


async def member_ids(reader: Reader, *, conversation_id: int) -> list[int]:
    rows = await reader.scalars(
        select(ConversationMember.user_id)
        .where(ConversationMember.conversation_id == conversation_id)
        .order_by(ConversationMember.id)
    )
    return list(rows)


async def require_member(reader: Reader, *, conversation_id: int, user_id: int) -> list[int]:
    """The members, if `user_id` is one; 404 otherwise (a stranger learns nothing)."""
    members = await member_ids(reader, conversation_id=conversation_id)
    if user_id not in members:
        raise ConversationNotFound()
    return members


def _before(cursor: str | None, key: str = "id") -> int | None:
    position = decode_cursor(cursor)
    if position is None:
        return None
    before = position.get(key)
    if type(before) is not int or before < 0:
        raise InvalidCursor()
    return before


def _not_hidden(user_id: int) -> Any:
    return ~exists().where(HiddenMessage.user_id == user_id, HiddenMessage.message_id == Message.id)


async def list_messages(
    reader: Reader, *, conversation_id: int, user_id: int, limit: int, cursor: str | None
) -> Page[MessageOut]:
    """A conversation's messages, newest first, without those I deleted for myself."""
    await require_member(reader, conversation_id=conversation_id, user_id=user_id)
    before = _before(cursor)
    # Stale statistics may make MariaDB walk the primary key backwards through every message.
    query = (
        select(*MESSAGE_COLUMNS)
        .with_hint(Message, "FORCE INDEX (ix_messages_conversation_id_id)", dialect_name="mysql")
        .where(Message.conversation_id == conversation_id, _not_hidden(user_id))
    )
    if before is not None:
        query = query.where(Message.id < before)
    rows = (await reader.execute(query.order_by(Message.id.desc()).limit(limit + 1))).all()
    more, rows = len(rows) > limit, rows[:limit]
    next_cursor = encode_cursor({"id": rows[-1].id}) if more and rows else None
    return Page[MessageOut](items=[message_out(row) for row in rows], next_cursor=next_cursor)


async def conversations_out(reader: Reader, *, rows: list[Any]) -> list[ConversationOut]:
    """Conversation rows (with my member row's columns) with members and last messages: two
    queries whatever their number."""
    ids = [row.id for row in rows]
    members: dict[int, list[Any]] = {cid: [] for cid in ids}
    receipts: dict[int, list[Receipt]] = {cid: [] for cid in ids}
    lasts: dict[int, MessageOut] = {}
    if ids:
        people = await reader.execute(
            select(
                ConversationMember.conversation_id,
                ConversationMember.last_delivered_message_id,
                ConversationMember.last_read_message_id,
                *users.SUMMARY_COLUMNS,
            )
            .join(User, User.id == ConversationMember.user_id)
            .where(ConversationMember.conversation_id.in_(ids))
            .order_by(ConversationMember.id)
        )
        for person in people:
            members[person.conversation_id].append(users.summary_of(person))
            receipts[person.conversation_id].append(
                Receipt.model_construct(
                    user_id=person.id,
                    last_delivered_message_id=person.last_delivered_message_id,
                    last_read_message_id=person.last_read_message_id,
                )
            )
        last_ids = [row.last_message_id for row in rows if row.last_message_id]
        if last_ids:
            for message in await reader.execute(
                select(*MESSAGE_COLUMNS).where(Message.id.in_(last_ids))
            ):
                lasts[message.conversation_id] = message_out(message)
    return [
        ConversationOut.model_construct(
            id=row.id,
            kind=row.kind,
            title=row.title,
            members=members[row.id],
            receipts=receipts[row.id],
            last_message=lasts.get(row.id),
            unread_count=row.unread_count,
            last_read_message_id=row.last_read_message_id,
            created_at=row.created_at,
        )
        for row in rows
    ]


def _mine(user_id: int) -> Any:
    return (
        select(
            Conversation.id,
            Conversation.kind,
            Conversation.title,
            Conversation.last_message_id,
            Conversation.created_at,
            ConversationMember.id.label("member_row"),
            ConversationMember.activity_id,
            ConversationMember.unread_count,
            ConversationMember.last_read_message_id,
        )
        .select_from(ConversationMember)
        .join(Conversation, Conversation.id == ConversationMember.conversation_id)
        .where(ConversationMember.user_id == user_id)
    )


async def get_conversation(
    reader: Reader, *, conversation_id: int, user_id: int
) -> ConversationOut:
    row = (
        await reader.execute(_mine(user_id).where(Conversation.id == conversation_id))
    ).one_or_none()
    if row is None:
        raise ConversationNotFound()
    return (await conversations_out(reader, rows=[row]))[0]


async def list_conversations(
    reader: Reader, *, user_id: int, limit: int, cursor: str | None
) -> Page[ConversationOut]:
    """My conversations, most recently active first (three queries)."""
    position = decode_cursor(cursor)
    # Without the hint MariaDB may scan conversations and sort; the member index reads one page.
    query = _mine(user_id).with_hint(
        ConversationMember,
        "FORCE INDEX (ix_conversation_members_user_id_activity)",
        dialect_name="mysql",
    )
    if position is not None:
        activity, member_row = position.get("a"), position.get("m")
        if type(activity) is not int or type(member_row) is not int:
            raise InvalidCursor()
        query = query.where(
            (ConversationMember.activity_id < activity)
            | ((ConversationMember.activity_id == activity) & (ConversationMember.id < member_row))
        )
    query = query.order_by(ConversationMember.activity_id.desc(), ConversationMember.id.desc())
    rows = (await reader.execute(query.limit(limit + 1))).all()
    more, rows = len(rows) > limit, rows[:limit]
    last = rows[-1] if rows else None
    next_cursor = (
        encode_cursor({"a": last.activity_id, "m": last.member_row}) if more and last else None
    )
    items = await conversations_out(reader, rows=list(rows))
    return Page[ConversationOut](items=items, next_cursor=next_cursor)


async def total_unread(reader: Reader, *, user_id: int) -> int:
    total = await reader.scalar(
        select(func.coalesce(func.sum(ConversationMember.unread_count), 0)).where(
            ConversationMember.user_id == user_id
        )
    )
    return int(total or 0)


async def search_messages(
    reader: Reader, *, user_id: int, q: str, limit: int, cursor: str | None
) -> Page[MessageOut]:
    """My messages (in conversations I am in) holding every word of `q`, newest first."""
    tokens = tokenizer.query_tokens(q)
    if not tokens:
        raise EmptySearch(fields={"q": "Give at least one word or character."})
    before = _before(cursor)
    matching = (
        select(MessageToken.message_id)
        .where(MessageToken.token.in_(tokens))
        .group_by(MessageToken.message_id)
        .having(func.count() == len(tokens))
    )
    query = (
        select(*MESSAGE_COLUMNS)
        .join(
            ConversationMember,
            (ConversationMember.conversation_id == Message.conversation_id)
            & (ConversationMember.user_id == user_id),
        )
        .where(Message.id.in_(matching), Message.recalled_at.is_(None), _not_hidden(user_id))
    )
    if before is not None:
        query = query.where(Message.id < before)
    rows = (await reader.execute(query.order_by(Message.id.desc()).limit(limit + 1))).all()
    more, rows = len(rows) > limit, rows[:limit]
    next_cursor = encode_cursor({"id": rows[-1].id}) if more and rows else None
    return Page[MessageOut](items=[message_out(row) for row in rows], next_cursor=next_cursor)
