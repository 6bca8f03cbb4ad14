"""Receipts: how far each member has received (`message.delivered`) and read (`message.read`).

Positions never move back, reading implies receiving, and each change goes to every member's
devices as a user event (the sender shows ticks; the reader's other devices clear badges).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.social.messages import Conversation, ConversationMember, Message
from server.db import UnitOfWork
from server.social.messages import queries
from server.social.messages.queries import ConversationNotFound
from server.social.messages.schemas import DeliveredOut, ReadOut

MESSAGE_READ = "message.read"
MESSAGE_DELIVERED = "message.delivered"


async def _position(
    session: AsyncSession, *, conversation_id: int, user_id: int, message_id: int
) -> tuple[ConversationMember, int]:
    """My member row (locked) and `message_id` capped at the conversation's last message."""
    member = await session.scalar(
        select(ConversationMember)
        .where(
            ConversationMember.conversation_id == conversation_id,
            ConversationMember.user_id == user_id,
        )
        .with_for_update()
    )
    if member is None:
        raise ConversationNotFound()
    last = await session.scalar(
        select(Conversation.last_message_id).where(Conversation.id == conversation_id)
    )
    return member, min(message_id, last or 0)


async def _unread_after(
    session: AsyncSession, *, conversation_id: int, user_id: int, after: int
) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(Message)
        .where(
            Message.conversation_id == conversation_id,
            Message.id > after,
            Message.sender_id != user_id,
            Message.recalled_at.is_(None),
        )
    )
    return int(count or 0)


async def mark_delivered(
    uow: UnitOfWork, *, user_id: int, conversation_id: int, message_id: int
) -> DeliveredOut:
    """A device of mine received up to `message_id`; the members get `message.delivered`."""
    session = uow.session
    member, upto = await _position(
        session, conversation_id=conversation_id, user_id=user_id, message_id=message_id
    )
    if upto > member.last_delivered_message_id:
        member.last_delivered_message_id = upto
        await session.flush()
        members = await queries.member_ids(session, conversation_id=conversation_id)
        data = {
            "conversation_id": conversation_id,
            "user_id": user_id,
            "last_delivered_message_id": upto,
        }
        uow.outbox.publish(MESSAGE_DELIVERED, data, user_ids=members)
    return DeliveredOut(
        conversation_id=conversation_id,
        last_delivered_message_id=member.last_delivered_message_id,
    )


async def mark_read(
    uow: UnitOfWork, *, user_id: int, conversation_id: int, message_id: int
) -> ReadOut:
    """Read up to `message_id` (never backwards); the members get `message.read`."""
    session = uow.session
    member, upto = await _position(
        session, conversation_id=conversation_id, user_id=user_id, message_id=message_id
    )
    if upto > member.last_read_message_id:
        member.last_read_message_id = upto
        member.last_delivered_message_id = max(member.last_delivered_message_id, upto)
        member.unread_count = await _unread_after(
            session, conversation_id=conversation_id, user_id=user_id, after=upto
        )
        await session.flush()
        members = await queries.member_ids(session, conversation_id=conversation_id)
        data = {
            "conversation_id": conversation_id,
            "user_id": user_id,
            "last_read_message_id": upto,
        }
        uow.outbox.publish(MESSAGE_READ, data, user_ids=members)
    return ReadOut(
        conversation_id=conversation_id,
        last_read_message_id=member.last_read_message_id,
        unread_count=member.unread_count,
    )
