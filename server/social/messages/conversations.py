"""Opening conversations, and who may message whom (blocks and `who_can_message`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models.identity.users import User
from models.social.follows import Follow
from models.social.messages import Conversation, ConversationMember
from server.db import UnitOfWork
from server.http.errors import Forbidden, ValidationFailed
from server.identity.users import service as users
from server.settings import Settings
from server.social import reach
from server.social.messages import queries
from server.social.messages.schemas import ConversationOut


class MessagingRefused(Forbidden):
    code, message = "messages.not_allowed", "This user does not accept messages from you."


class TooManyMembers(ValidationFailed):
    code, message = "messages.too_many_members", "A group conversation has too many members."


async def may_message(session: AsyncSession, *, sender_id: int, recipient_id: int) -> None:
    """Refuse when either blocked the other or the recipient's privacy says no."""
    if await reach.blocked_between(session, sender_id, recipient_id):
        raise MessagingRefused()
    privacy = await users.get_privacy(session, user_id=recipient_id)
    if privacy.who_can_message == "nobody":
        raise MessagingRefused()
    if privacy.who_can_message == "following":
        follows = await session.scalar(
            select(Follow.id).where(
                Follow.follower_id == recipient_id, Follow.followee_id == sender_id
            )
        )
        if follows is None:
            raise MessagingRefused()


async def _active_users(session: AsyncSession, ids: list[int]) -> set[int]:
    rows = await session.scalars(select(User.id).where(User.id.in_(ids), User.status == "active"))
    return set(rows)


async def open_conversation(
    uow: UnitOfWork,
    *,
    user_id: int,
    others: list[int],
    title: str | None,
    settings: Settings,
    now: datetime,
) -> tuple[ConversationOut, bool]:
    """The direct conversation with one other user (made once per pair) or a new group; and
    whether it was made now."""
    session = uow.session
    others = list(dict.fromkeys(o for o in others if o != user_id))
    if not others:
        raise ValidationFailed(fields={"user_ids": "Name at least one other user."})
    if len(others) + 1 > settings.conversation_max_members:
        raise TooManyMembers(fields={"user_ids": f"At most {settings.conversation_max_members}."})
    if await _active_users(session, others) != set(others):
        raise users.UserNotFound()
    for other in others:
        await may_message(session, sender_id=user_id, recipient_id=other)
    direct_key = (
        f"{min(user_id, others[0])}:{max(user_id, others[0])}" if len(others) == 1 else None
    )
    if direct_key is not None:
        found = await session.scalar(
            select(Conversation.id).where(Conversation.direct_key == direct_key)
        )
        if found is not None:
            return await queries.get_conversation(
                session, conversation_id=found, user_id=user_id
            ), False
    conversation = Conversation(
        kind="direct" if direct_key else "group",
        direct_key=direct_key,
        title=None if direct_key else title,
        created_by=user_id,
        created_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(conversation)
            await session.flush()
    except IntegrityError:  # the same pair opened it at the same time
        found = await session.scalar(
            select(Conversation.id).where(Conversation.direct_key == direct_key)
        )
        if found is None:
            raise
        return await queries.get_conversation(
            session, conversation_id=found, user_id=user_id
        ), False
    session.add_all(
        ConversationMember(conversation_id=conversation.id, user_id=member, joined_at=now)
        for member in [user_id, *others]
    )
    await session.flush()
    return await queries.get_conversation(
        session, conversation_id=conversation.id, user_id=user_id
    ), True
