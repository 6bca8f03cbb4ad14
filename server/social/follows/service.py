"""The follow graph: follow, unfollow, the two lists and creator suggestions.

Counters on users change in the same transaction as the follow rows, and only when a row was
really inserted or deleted, so they equal the rows however many requests race.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, String, and_, cast, delete, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.identity.users import User
from models.social.follows import Follow
from server.db import UnitOfWork
from server.http.errors import BadRequest, Forbidden
from server.http.pagination import InvalidCursor, Page, decode_cursor, encode_cursor, id_before
from server.identity.users import service as users
from server.identity.users.schemas import Privacy
from server.notify.notifications import service as notifications
from server.social import reach
from server.social.follows import queries
from server.social.follows.schemas import FollowItem, FollowState, SuggestedCreator

FOLLOW_CREATED = "follow.created"


class FollowSelf(BadRequest):
    code, message = "follows.self", "You cannot follow yourself."


class FollowBlocked(Forbidden):
    code, message = "follows.blocked", "You cannot follow this user."


class FollowsHidden(Forbidden):
    code, message = "follows.hidden", "This user keeps this list private."


async def _state(session: AsyncSession, followee: Any, *, following: bool) -> FollowState:
    """The answer: the follower count read again after the change (current, as the row is
    locked; on SQLite, whose reads do not lock, it is the first read that sees the winner)."""
    count = await session.scalar(select(User.follower_count).where(User.id == followee.id))
    shown = Privacy.stored(followee.privacy).show_followers
    return FollowState(following=following, follower_count=count if shown else None)


async def follow(
    uow: UnitOfWork, *, follower_id: int, followee_id: int, now: datetime
) -> FollowState:
    """Follow an active user (again is a no-op); a new follow notifies them."""
    if follower_id == followee_id:
        raise FollowSelf()
    session = uow.session
    rows = await queries.lock_pair(session, follower_id=follower_id, followee_id=followee_id)
    followee = rows.get(followee_id)
    if followee is None or followee.status != "active":
        raise users.UserNotFound()
    if await reach.blocked_between(session, follower_id, followee_id):
        raise FollowBlocked()
    inserted = await queries.insert_follow(
        session, follower_id=follower_id, followee_id=followee_id, now=now
    )
    if not inserted:
        return await _state(session, followee, following=True)
    await queries.shift_counts(session, follower_id=follower_id, followee_id=followee_id, delta=1)
    await notifications.notify(
        uow,
        user_id=followee_id,
        type=FOLLOW_CREATED,
        title="New follower",
        body=f"{rows[follower_id].nickname} followed you.",
        data={"follower_id": follower_id},
        actor_id=follower_id,
        # Folds new followers into one unread notice; following again soon notifies nobody.
        group_key=f"follow:{followee_id}",
    )
    return await _state(session, followee, following=True)


async def unfollow(uow: UnitOfWork, *, follower_id: int, followee_id: int) -> FollowState:
    """Stop following a user (not following is a no-op); works on banned accounts too."""
    if follower_id == followee_id:
        raise FollowSelf()
    session = uow.session
    rows = await queries.lock_pair(session, follower_id=follower_id, followee_id=followee_id)
    followee = rows.get(followee_id)
    if followee is None:
        raise users.UserNotFound()
    deleted = await queries.delete_follow(session, follower_id=follower_id, followee_id=followee_id)
    if deleted:
        await queries.shift_counts(
            session, follower_id=follower_id, followee_id=followee_id, delta=-1
        )
    return await _state(session, followee, following=False)


def _sides(followers: bool) -> tuple[Any, Any]:
    """(the owner's column, the listed users' column) of a follow row."""
    if followers:
        return Follow.followee_id, Follow.follower_id
    return Follow.follower_id, Follow.followee_id


def list_query(*, owner_id: int, followers: bool, before: int | None, limit: int) -> Select[Any]:
    """One page of a list: follow rows of the owner, newest first, with the listed users."""
    mine, theirs = _sides(followers)
    columns: tuple[Any, ...] = (
        Follow.id.label("follow_id"),
        Follow.created_at,
        *users.SUMMARY_COLUMNS,
    )
    # The optimizer, guided by stale statistics, may walk the primary key backwards for
    # `id < :cursor ORDER BY id DESC LIMIT n`, reading every follow in the table; the owner's
    # (owner, id) index reads exactly one page.
    index = "ix_follows_followee_id_id" if followers else "ix_follows_follower_id_id"
    query = (
        select(*columns)
        .with_hint(Follow, f"FORCE INDEX ({index})", dialect_name="mysql")
        .join(User, User.id == theirs)
        .where(mine == owner_id, User.status == "active")
    )
    if before is not None:
        query = query.where(Follow.id < before)
    return query.order_by(Follow.id.desc()).limit(limit)


async def _follow_list(
    session: AsyncSession,
    *,
    owner_id: int,
    viewer_id: int | None,
    followers: bool,
    limit: int,
    cursor: str | None,
) -> Page[FollowItem]:
    """One list in three queries whatever the page size: owner, page, mutual flags."""
    owner = await users.visible_user(session, user_id=owner_id)
    privacy = Privacy.stored(owner.privacy)
    shown = privacy.show_followers if followers else privacy.show_following
    if viewer_id != owner_id and not shown:
        raise FollowsHidden()
    before = id_before(cursor)
    # Followers: rows pointing at the owner, listing their followers; following: the reverse.
    mine, theirs = _sides(followers)
    query = list_query(owner_id=owner_id, followers=followers, before=before, limit=limit + 1)
    rows = (await session.execute(query)).all()
    more, rows = len(rows) > limit, rows[:limit]
    mutual: set[int] = set()
    if rows:
        # The other direction: rows where the owner is on the listed users' side.
        back = await session.scalars(
            select(mine).where(theirs == owner_id, mine.in_([row.id for row in rows]))
        )
        mutual = set(back)
    items = [
        FollowItem.model_construct(
            user=users.summary_of(row), followed_at=row.created_at, mutual=row.id in mutual
        )
        for row in rows
    ]
    next_cursor = encode_cursor({"id": rows[-1].follow_id}) if more else None
    return Page[FollowItem](items=items, next_cursor=next_cursor)


async def list_followers(
    session: AsyncSession, *, owner_id: int, viewer_id: int | None, limit: int, cursor: str | None
) -> Page[FollowItem]:
    """Who follows `owner_id`, newest first; 403 when hidden from `viewer_id`."""
    return await _follow_list(
        session, owner_id=owner_id, viewer_id=viewer_id, followers=True, limit=limit, cursor=cursor
    )


async def list_following(
    session: AsyncSession, *, owner_id: int, viewer_id: int | None, limit: int, cursor: str | None
) -> Page[FollowItem]:
    """Whom `owner_id` follows, newest first; 403 when hidden from `viewer_id`."""
    return await _follow_list(
        session, owner_id=owner_id, viewer_id=viewer_id, followers=False, limit=limit, cursor=cursor
    )


def _suggestion_position(cursor: str | None) -> tuple[int, int] | None:
    position = decode_cursor(cursor)
    if position is None:
        return None
    count, before = position.get("c"), position.get("id")
    if type(count) is not int or type(before) is not int or count < 0 or before < 1:
        raise InvalidCursor()
    return count, before


async def suggested_creators(
    session: AsyncSession, *, user_id: int, limit: int, cursor: str | None
) -> Page[SuggestedCreator]:
    """Active creators the user does not follow, most followed first, in one query."""
    position = _suggestion_position(cursor)
    already = exists().where(Follow.follower_id == user_id, Follow.followee_id == User.id)
    query = select(*users.SUMMARY_COLUMNS, User.follower_count, User.privacy).where(
        User.status == "active",
        User.id != user_id,
        # roles is a small JSON list of known words: a text match is exact and portable.
        cast(User.roles, String).like('%"creator"%'),
        ~already,
    )
    if position is not None:
        count, before = position
        query = query.where(
            or_(
                User.follower_count < count,
                and_(User.follower_count == count, User.id < before),
            )
        )
    query = query.order_by(User.follower_count.desc(), User.id.desc()).limit(limit + 1)
    rows = (await session.execute(query)).all()
    more, rows = len(rows) > limit, rows[:limit]
    items = [
        SuggestedCreator.model_construct(
            **users.summary_of(row).__dict__,
            follower_count=(
                row.follower_count if Privacy.stored(row.privacy).show_followers else None
            ),
        )
        for row in rows
    ]
    last = rows[-1] if rows else None
    next_cursor = (
        encode_cursor({"c": last.follower_count, "id": last.id}) if more and last else None
    )
    return Page[SuggestedCreator](items=items, next_cursor=next_cursor)


async def remove_all_follows(uow: UnitOfWork, *, user_id: int) -> int:
    """Drop every follow to and from a user (account erasure), keeping the others' counters
    exact; how many rows went."""
    session = uow.session
    followees = select(Follow.followee_id).where(Follow.follower_id == user_id)
    followers = select(Follow.follower_id).where(Follow.followee_id == user_id)
    await session.execute(
        update(User)
        .where(User.id.in_(followees))
        .values(follower_count=User.follower_count - 1)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(User)
        .where(User.id.in_(followers))
        .values(following_count=User.following_count - 1)
        .execution_options(synchronize_session=False)
    )
    removed: Any = await session.execute(
        delete(Follow).where(or_(Follow.follower_id == user_id, Follow.followee_id == user_id))
    )
    await session.execute(
        update(User).where(User.id == user_id).values(follower_count=0, following_count=0)
    )
    return int(removed.rowcount or 0)


async def count_rows(session: AsyncSession, *, user_id: int) -> tuple[int, int]:
    """(followers, following) counted from the rows, for checking the counters."""
    followers = await session.scalar(
        select(func.count()).select_from(Follow).where(Follow.followee_id == user_id)
    )
    following = await session.scalar(
        select(func.count()).select_from(Follow).where(Follow.follower_id == user_id)
    )
    return int(followers or 0), int(following or 0)
