"""Private messages: conversations, sending, read positions, recall and delete-for-me.

REST and the socket's `message.send` both end in `send_message`. Every member's devices get
`message.created` as a recoverable user event (user rooms, through the outbox), so a device
that was offline replays it on reconnect. Unread counts live on the member rows and change in
the same transaction as the messages.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, case, delete, insert, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models.content.media import Media
from models.social.messages import (
    Conversation,
    ConversationMember,
    HiddenMessage,
    Message,
    MessageToken,
)
from server import screening
from server.content.moderation import service as moderation
from server.content.search import tokenizer
from server.db import UnitOfWork
from server.http.errors import Conflict, Forbidden, NotFound, ValidationFailed
from server.settings import Settings
from server.social import reach
from server.social.messages import push, queries
from server.social.messages.conversations import MessagingRefused, may_message
from server.social.messages.queries import ConversationNotFound, message_out
from server.social.messages.schemas import MessageOut, MessageSend

MESSAGE_CREATED = "message.created"
MESSAGE_RECALLED = "message.recalled"

__all__ = ["ConversationNotFound", "MessagingRefused"]


class MessageNotFound(NotFound):
    code, message = "messages.not_found", "There is no such message."


class ClientIdReused(Conflict):
    code, message = "messages.client_id_reused", "This client_message_id was used elsewhere."


class RecallExpired(Conflict):
    code, message = "messages.recall_expired", "The time to recall this message has passed."


class NotYourMessage(Forbidden):
    code, message = "messages.not_sender", "Only the sender can recall a message."


def _clean_body(body: MessageSend, settings: Settings) -> str:
    text = body.body.strip()
    if not text and not body.attachments:
        raise ValidationFailed(fields={"body": "A message needs text or an attachment."})
    if len(text) > settings.message_max_chars:
        raise ValidationFailed(fields={"body": f"At most {settings.message_max_chars} characters."})
    if len(body.attachments) > settings.message_max_attachments:
        raise ValidationFailed(
            fields={"attachments": f"At most {settings.message_max_attachments}."}
        )
    return text


async def _check_attachments(session: AsyncSession, *, sender_id: int, ids: list[int]) -> list[str]:
    """The attachments' kinds (image, audio, video), in order, if all are the sender's."""
    if not ids:
        return []
    owned = {
        row.id: row.kind
        for row in await session.execute(
            select(Media.id, Media.kind).where(
                Media.id.in_(ids), Media.owner_id == sender_id, Media.status == "ready"
            )
        )
    }
    if set(owned) != set(ids):
        raise ValidationFailed(fields={"attachments": "Only your own ready uploads."})
    return [owned[media_id] for media_id in ids]


async def _existing(
    session: AsyncSession, *, sender_id: int, client_message_id: str, conversation_id: int
) -> MessageOut | None:
    row = (
        await session.execute(
            select(*queries.MESSAGE_COLUMNS).where(
                Message.sender_id == sender_id, Message.client_message_id == client_message_id
            )
        )
    ).one_or_none()
    if row is None:
        return None
    if row.conversation_id != conversation_id:
        raise ClientIdReused()
    return message_out(row)


async def send_message(
    uow: UnitOfWork,
    *,
    sender_id: int,
    conversation_id: int,
    body: MessageSend,
    settings: Settings,
    now: datetime,
    online: push.OnlineReader | None = None,
) -> tuple[MessageOut, bool]:
    """Send (a retry with the same client_message_id returns the first); and whether new.

    Members that `online` does not name (and are not blocked either way) get a push."""
    session = uow.session
    members = await queries.require_member(
        session, conversation_id=conversation_id, user_id=sender_id
    )
    found = await _existing(
        session,
        sender_id=sender_id,
        client_message_id=body.client_message_id,
        conversation_id=conversation_id,
    )
    if found is not None:
        return found, False
    text = _clean_body(body, settings)
    others = [m for m in members if m != sender_id]
    # Read before the lock below, so it is not held during the round trip.
    offline = await push.offline_of(online, others)
    # Sends to one conversation queue here: each would otherwise hold a shared lock on the
    # conversation (the new message's foreign key) and wait for the other's exclusive one.
    conversation = (
        await session.execute(
            select(Conversation.kind, Conversation.title)
            .where(Conversation.id == conversation_id)
            .with_for_update()
        )
    ).one()
    blocked: set[int] = set()
    if len(others) == 1:
        await may_message(session, sender_id=sender_id, recipient_id=others[0])
    else:
        blocked = await reach.blocked_ids(session, user_id=sender_id, others=others)
        if blocked == set(others):
            raise MessagingRefused()
    kinds = await _check_attachments(session, sender_id=sender_id, ids=body.attachments)
    policy = screening.policy_of(settings)
    result = screening.screen({"body": text}, policy.word_list)
    if not result.ok and policy.mode == "block":
        raise screening.Flagged(fields={"body": ", ".join(result.categories)})
    message = Message(
        conversation_id=conversation_id,
        sender_id=sender_id,
        client_message_id=body.client_message_id,
        body=text,
        attachments=list(body.attachments),
        created_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(message)
            await session.flush()
    except IntegrityError:  # the same retry raced this one
        again = await _existing(
            session,
            sender_id=sender_id,
            client_message_id=body.client_message_id,
            conversation_id=conversation_id,
        )
        if again is None:
            raise
        return again, False
    if not result.ok:
        await screening.record_flag(uow, target_type="message", target_id=message.id, result=result)
    await _index(session, message_id=message.id, text=text)
    await session.execute(
        update(Conversation)
        .where(Conversation.id == conversation_id)
        .values(last_message_id=message.id)
    )
    await session.execute(
        update(ConversationMember)
        .where(ConversationMember.conversation_id == conversation_id)
        .values(
            activity_id=message.id,
            # Replying reads what came before.
            unread_count=case(
                (ConversationMember.user_id == sender_id, 0),
                else_=ConversationMember.unread_count + 1,
            ),
            last_read_message_id=case(
                (ConversationMember.user_id == sender_id, message.id),
                else_=ConversationMember.last_read_message_id,
            ),
            last_delivered_message_id=case(
                (ConversationMember.user_id == sender_id, message.id),
                else_=ConversationMember.last_delivered_message_id,
            ),
        )
    )
    out = message_out(message)
    uow.outbox.publish(MESSAGE_CREATED, out.model_dump(mode="json"), user_ids=members)
    await push.notify_offline(
        uow,
        recipients=[m for m in offline if m not in blocked],
        sender_id=sender_id,
        conversation_id=conversation_id,
        message_id=message.id,
        group_title=(conversation.title or "") if conversation.kind == "group" else None,
        body=push.preview(text, kinds, screened=not result.ok),
    )
    return out, True


async def _index(session: AsyncSession, *, message_id: int, text: str) -> None:
    tokens = sorted(set(tokenizer.document_tokens(text)))
    if tokens:
        await session.execute(
            insert(MessageToken), [{"token": t, "message_id": message_id} for t in tokens]
        )


async def _message_for(session: AsyncSession, *, message_id: int, user_id: int) -> Message:
    """The message, if `user_id` is a member of its conversation (404 otherwise)."""
    message = await session.get(Message, message_id, with_for_update=True)
    if message is None:
        raise MessageNotFound()
    member = await session.scalar(
        select(ConversationMember.id).where(
            ConversationMember.conversation_id == message.conversation_id,
            ConversationMember.user_id == user_id,
        )
    )
    if member is None:
        raise MessageNotFound()
    return message


async def recall(
    uow: UnitOfWork, *, user_id: int, message_id: int, settings: Settings, now: datetime
) -> MessageOut:
    """The sender takes a message back within the recall window (again is a no-op)."""
    session = uow.session
    message = await _message_for(session, message_id=message_id, user_id=user_id)
    if message.sender_id != user_id:
        raise NotYourMessage()
    if message.recalled_at is not None:
        return message_out(message)
    if now - message.created_at > timedelta(seconds=settings.message_recall_seconds):
        raise RecallExpired()
    message.recalled_at = now
    message.body = ""
    message.attachments = []
    await session.execute(delete(MessageToken).where(MessageToken.message_id == message_id))
    await session.execute(
        update(ConversationMember)
        .where(
            ConversationMember.conversation_id == message.conversation_id,
            ConversationMember.user_id != user_id,
            ConversationMember.last_read_message_id < message_id,
            ConversationMember.unread_count > 0,
        )
        .values(unread_count=ConversationMember.unread_count - 1)
    )
    await session.flush()
    members = await queries.member_ids(session, conversation_id=message.conversation_id)
    data = {"conversation_id": message.conversation_id, "message_id": message_id}
    uow.outbox.publish(MESSAGE_RECALLED, data, user_ids=members)
    return message_out(message)


async def hide(uow: UnitOfWork, *, user_id: int, message_id: int) -> None:
    """Delete a message for myself only (again is a no-op); an unread one stops counting."""
    session = uow.session
    message = await _message_for(session, message_id=message_id, user_id=user_id)
    values = {"user_id": user_id, "message_id": message_id}
    if session.get_bind().dialect.name == "sqlite":
        statement: Any = sqlite_insert(HiddenMessage).values(values).on_conflict_do_nothing()
    else:
        statement = insert(HiddenMessage).values(values).prefix_with("IGNORE")
    result = cast(CursorResult[Any], await session.execute(statement))
    if result.rowcount == 1 and message.sender_id != user_id and message.recalled_at is None:
        await session.execute(
            update(ConversationMember)
            .where(
                ConversationMember.conversation_id == message.conversation_id,
                ConversationMember.user_id == user_id,
                ConversationMember.last_read_message_id < message_id,
                ConversationMember.unread_count > 0,
            )
            .values(unread_count=ConversationMember.unread_count - 1)
        )


async def check_report(session: AsyncSession, target_id: int, reporter_id: int) -> None:
    """A message may be reported by the other members of its conversation."""
    try:
        message = await _message_for(session, message_id=target_id, user_id=reporter_id)
    except MessageNotFound as exc:
        raise moderation.TargetNotFound() from exc
    if message.sender_id == reporter_id:
        raise moderation.OwnTarget()


async def uphold_report(uow: UnitOfWork, uphold: moderation.Uphold) -> moderation.Upheld:
    """An upheld report withdraws the message for everyone, as a recall does (the sender may
    no longer recall it themselves); again is a no-op."""
    session = uow.session
    message = await session.get(Message, uphold.target_id, with_for_update=True)
    if message is None or message.recalled_at is not None:
        return moderation.Upheld(removed=False)
    message.recalled_at, message.body, message.attachments = uphold.clock.now(), "", []
    await session.execute(delete(MessageToken).where(MessageToken.message_id == message.id))
    await session.execute(
        update(ConversationMember)
        .where(
            ConversationMember.conversation_id == message.conversation_id,
            ConversationMember.user_id != message.sender_id,
            ConversationMember.last_read_message_id < message.id,
            ConversationMember.unread_count > 0,
        )
        .values(unread_count=ConversationMember.unread_count - 1)
    )
    await session.flush()
    members = await queries.member_ids(session, conversation_id=message.conversation_id)
    data = {"conversation_id": message.conversation_id, "message_id": message.id}
    uow.outbox.publish(MESSAGE_RECALLED, data, user_ids=members)
    return moderation.Upheld(removed=True)
