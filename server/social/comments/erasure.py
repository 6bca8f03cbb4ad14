"""Forgetting an erased account's social traces: its comments and posts become tombstones
(the threads keep their shape, the text is gone), its likes, collections and topic memberships
are deleted, and every count they were part of moves back in the same transaction.

Runs as the task FORGET_AUTHOR, queued by the account erasure; safe to run again: a second run
finds nothing left to forget and changes no count.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sqlalchemy import delete, func, select, update

from models.social.comments import Comment, CommentLike
from models.social.community import Post
from models.social.reactions import ContentLike, Favorite, FavoriteCollection
from server.content.counters import apply_increments
from server.db import UnitOfWork
from server.runtime import Runtime
from server.social.community.members import forget_memberships
from server.social.community.service import forget_posts

FORGET_AUTHOR = "social.forget_author"


async def _tombstone_comments(uow: UnitOfWork, *, user_id: int) -> Counter[int]:
    """Tombstone the person's comments; the visible ones each content item loses."""
    session = uow.session
    rows = (
        await session.execute(
            select(
                Comment.id, Comment.target_type, Comment.target_id, Comment.root_id, Comment.status
            )
            .where(Comment.author_id == user_id, Comment.status != "deleted")
            .with_for_update()
        )
    ).all()
    lost: Counter[int] = Counter()
    for row in rows:
        if row.status != "visible":
            continue
        if row.root_id is not None:
            await session.execute(
                update(Comment)
                .where(Comment.id == row.root_id)
                .values(reply_count=Comment.reply_count - 1, hot_score=Comment.hot_score - 2)
            )
        if row.target_type == "post":
            await session.execute(
                update(Post)
                .where(Post.id == row.target_id)
                .values(reply_count=Post.reply_count - 1, hot_score=Post.hot_score - 1)
            )
        else:
            lost[row.target_id] += 1
    if rows:
        await session.execute(
            update(Comment)
            .where(Comment.id.in_([row.id for row in rows]))
            .values(status="deleted", body="")
        )
    return lost


async def _forget_comment_likes(uow: UnitOfWork, *, user_id: int) -> None:
    session = uow.session
    liked = list(
        await session.scalars(select(CommentLike.comment_id).where(CommentLike.user_id == user_id))
    )
    if not liked:
        return
    await session.execute(
        update(Comment)
        .where(Comment.id.in_(liked))
        .values(like_count=Comment.like_count - 1, hot_score=Comment.hot_score - 1)
    )
    await session.execute(delete(CommentLike).where(CommentLike.user_id == user_id))


async def forget_author(runtime: Runtime, *, user_id: int) -> int:
    """Forget one erased account's comments, posts, likes and favorites; how many content
    items' counters moved."""
    async with runtime.db.unit_of_work() as uow:
        session = uow.session
        increments: dict[int, dict[str, int]] = {}
        for content_id, count in (await _tombstone_comments(uow, user_id=user_id)).items():
            increments.setdefault(content_id, {})["comments"] = -count
        await _forget_comment_likes(uow, user_id=user_id)
        for content_id in await session.scalars(
            select(ContentLike.content_id).where(ContentLike.user_id == user_id)
        ):
            increments.setdefault(content_id, {})["likes"] = -1
        await session.execute(delete(ContentLike).where(ContentLike.user_id == user_id))
        for content_id in await session.scalars(
            select(func.distinct(Favorite.content_id)).where(Favorite.user_id == user_id)
        ):
            increments.setdefault(content_id, {})["favorites"] = -1
        await session.execute(delete(Favorite).where(Favorite.user_id == user_id))
        await session.execute(
            delete(FavoriteCollection).where(FavoriteCollection.user_id == user_id)
        )
        await forget_posts(uow, user_id=user_id)
        await forget_memberships(uow, user_id=user_id)
        window = timedelta(days=runtime.settings.discover_hot_window_days)
        return await apply_increments(uow, increments, now=runtime.clock.now(), window=window)
