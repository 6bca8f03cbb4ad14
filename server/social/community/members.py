"""Topic membership: people join and leave topics; `member_count` counts them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from models.social.community import Topic, TopicMember
from server.db import UnitOfWork
from server.social.community.schemas import Membership
from server.social.community.service import load_topic


async def join_topic(uow: UnitOfWork, *, user_id: int, topic_id: int, now: datetime) -> Membership:
    """Join a topic (again is a no-op)."""
    topic = await load_topic(uow, topic_id)
    try:
        async with uow.session.begin_nested():
            await uow.session.execute(
                insert(TopicMember).values(topic_id=topic.id, user_id=user_id, created_at=now)
            )
    except IntegrityError:
        return Membership(topic_id=topic.id, joined=True)
    await _move_member_count(uow, topic.id, 1)
    return Membership(topic_id=topic.id, joined=True)


async def leave_topic(uow: UnitOfWork, *, user_id: int, topic_id: int) -> Membership:
    """Leave a topic (a no-op when not a member)."""
    topic = await load_topic(uow, topic_id)
    removed = await uow.session.execute(
        delete(TopicMember).where(TopicMember.topic_id == topic.id, TopicMember.user_id == user_id)
    )
    if getattr(removed, "rowcount", 0):
        await _move_member_count(uow, topic.id, -1)
    return Membership(topic_id=topic.id, joined=False)


async def _move_member_count(uow: UnitOfWork, topic_id: int, delta: int) -> None:
    await uow.session.execute(
        update(Topic)
        .where(Topic.id == topic_id)
        .values(member_count=Topic.member_count + delta)
        .execution_options(synchronize_session=False)
    )


async def forget_memberships(uow: UnitOfWork, *, user_id: int) -> None:
    """An erased account leaves every topic it joined."""
    joined = list(
        await uow.session.scalars(
            select(TopicMember.topic_id).where(TopicMember.user_id == user_id)
        )
    )
    for topic_id in joined:
        await _move_member_count(uow, topic_id, -1)
    await uow.session.execute(delete(TopicMember).where(TopicMember.user_id == user_id))
