"""User blocks: who may not message, follow or reply to whom.

A block is one-way in the rows (`owner_id` blocked `blocked_id`) and mutual in effect: messaging
and following check `server.social.reach.blocked_between`, so neither side reaches the other.
Blocking also ends the follows both ways, through the follow graph's own statements (counters stay
exact).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, insert, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from models.identity.users import User
from models.social.blocks import UserBlock
from server.db import Reader, UnitOfWork
from server.http.errors import BadRequest
from server.http.pagination import Page, encode_cursor, id_before
from server.identity.users import service as users
from server.social.blocks.schemas import BlockItem, BlockState
from server.social.follows import queries as follow_queries


class BlockSelf(BadRequest):
    code, message = "blocks.self", "You cannot block yourself."


async def _insert_block(session: AsyncSession, *, owner_id: int, blocked_id: int, now: Any) -> bool:
    values = {"owner_id": owner_id, "blocked_id": blocked_id, "created_at": now}
    if session.get_bind().dialect.name == "sqlite":
        statement: Any = sqlite_insert(UserBlock).values(values).on_conflict_do_nothing()
    else:
        statement = insert(UserBlock).values(values).prefix_with("IGNORE")
    result = cast(CursorResult[Any], await session.execute(statement))
    return result.rowcount == 1


async def _drop_follow(session: AsyncSession, *, follower_id: int, followee_id: int) -> None:
    if await follow_queries.delete_follow(
        session, follower_id=follower_id, followee_id=followee_id
    ):
        await follow_queries.shift_counts(
            session, follower_id=follower_id, followee_id=followee_id, delta=-1
        )


async def block(uow: UnitOfWork, *, owner_id: int, blocked_id: int, now: datetime) -> BlockState:
    """Block a user (again is a no-op) and end the follows between you both ways."""
    if owner_id == blocked_id:
        raise BlockSelf()
    session = uow.session
    # The same locks, in the same order, as a follow: a block racing a follow queues.
    rows = await follow_queries.lock_pair(session, follower_id=owner_id, followee_id=blocked_id)
    other = rows.get(blocked_id)
    if other is None or other.status == "deleted":
        raise users.UserNotFound()
    await _insert_block(session, owner_id=owner_id, blocked_id=blocked_id, now=now)
    await _drop_follow(session, follower_id=owner_id, followee_id=blocked_id)
    await _drop_follow(session, follower_id=blocked_id, followee_id=owner_id)
    return BlockState(blocked=True)


async def unblock(uow: UnitOfWork, *, owner_id: int, blocked_id: int) -> BlockState:
    """Lift a block (not blocking is a no-op); follows are not restored."""
    if owner_id == blocked_id:
        raise BlockSelf()
    exists = await uow.session.scalar(select(User.id).where(User.id == blocked_id))
    if exists is None:
        raise users.UserNotFound()
    await uow.session.execute(
        delete(UserBlock).where(UserBlock.owner_id == owner_id, UserBlock.blocked_id == blocked_id)
    )
    return BlockState(blocked=False)


async def list_blocks(
    reader: Reader, *, owner_id: int, limit: int, cursor: str | None
) -> Page[BlockItem]:
    """The users I block, most recent first, in one query."""
    before = id_before(cursor)
    query = (
        select(UserBlock.id.label("block_id"), UserBlock.created_at, *users.SUMMARY_COLUMNS)
        .join(User, User.id == UserBlock.blocked_id)
        .where(UserBlock.owner_id == owner_id)
    )
    if before is not None:
        query = query.where(UserBlock.id < before)
    rows = (await reader.execute(query.order_by(UserBlock.id.desc()).limit(limit + 1))).all()
    more, rows = len(rows) > limit, rows[:limit]
    items = [
        BlockItem.model_construct(user=users.summary_of(row), blocked_at=row.created_at)
        for row in rows
    ]
    next_cursor = encode_cursor({"id": rows[-1].block_id}) if more and rows else None
    return Page[BlockItem](items=items, next_cursor=next_cursor)
