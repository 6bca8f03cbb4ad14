"""Data access of the follow graph: the statements whose dialect matters live here."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, case, delete, insert, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from models.identity.users import User
from models.social.follows import Follow


async def lock_pair(session: AsyncSession, *, follower_id: int, followee_id: int) -> dict[int, Any]:
    """Lock both users' rows, lower id first, before touching the follow row; the rows by id
    (status, nickname, follower_count, privacy).

    Inserting a follow takes shared locks on both users (the foreign keys) and the counters
    then need exclusive ones: taken in that order by two requests about the same user, that
    deadlocks. Taking the exclusive locks first, in one order, makes such requests queue.
    """
    rows = await session.execute(
        select(User.id, User.status, User.nickname, User.follower_count, User.privacy)
        .where(User.id.in_([follower_id, followee_id]))
        .order_by(User.id)
        .with_for_update()
    )
    return {row.id: row for row in rows}


async def insert_follow(
    session: AsyncSession, *, follower_id: int, followee_id: int, now: Any
) -> bool:
    """Insert the follow unless it exists (no error, no wait on a duplicate); True if inserted."""
    values = {"follower_id": follower_id, "followee_id": followee_id, "created_at": now}
    if session.get_bind().dialect.name == "sqlite":
        statement: Any = sqlite_insert(Follow).values(values).on_conflict_do_nothing()
    else:
        statement = insert(Follow).values(values).prefix_with("IGNORE")
    result = cast(CursorResult[Any], await session.execute(statement))
    return result.rowcount == 1


async def delete_follow(session: AsyncSession, *, follower_id: int, followee_id: int) -> bool:
    """Delete the follow if it exists; True if a row went."""
    result = cast(
        CursorResult[Any],
        await session.execute(
            delete(Follow).where(
                Follow.follower_id == follower_id, Follow.followee_id == followee_id
            )
        ),
    )
    return result.rowcount == 1


async def shift_counts(
    session: AsyncSession, *, follower_id: int, followee_id: int, delta: int
) -> None:
    """Move both counters by `delta` in one statement (rows locked in key order: no deadlock)."""
    await session.execute(
        update(User)
        .where(User.id.in_([follower_id, followee_id]))
        .values(
            follower_count=User.follower_count + case((User.id == followee_id, delta), else_=0),
            following_count=User.following_count + case((User.id == follower_id, delta), else_=0),
        )
        .execution_options(synchronize_session=False)
    )
