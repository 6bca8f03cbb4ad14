"""Likes on comments: one per person and comment, counted on the comment (and in its hot
score); a new like tells the comment's author, folded per comment (`like:comment:<id>`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, update
from sqlalchemy.exc import IntegrityError

from models.social.comments import Comment, CommentLike
from server.content.items.access import Viewer
from server.db import UnitOfWork
from server.notify.notifications import service as notifications
from server.social.comments import queries
from server.social.comments.queries import CommentNotFound
from server.social.comments.schemas import LikeState
from server.social.comments.targets import target_of


async def _likeable(uow: UnitOfWork, *, viewer: Viewer, comment_id: int, now: datetime) -> Any:
    row = await queries.one(uow.session, comment_id)
    if row is None or row.status != "visible":
        raise CommentNotFound()
    await target_of(
        uow.session,
        viewer=viewer,
        target_type=row.target_type,
        target_id=row.target_id,
        now=now,
    )
    return row


async def like_comment(
    uow: UnitOfWork, *, viewer: Viewer, comment_id: int, now: datetime
) -> LikeState:
    """Like a visible comment one can read; liking again is a no-op."""
    assert viewer.user_id is not None
    row = await _likeable(uow, viewer=viewer, comment_id=comment_id, now=now)
    session = uow.session
    try:
        async with session.begin_nested():
            await session.execute(
                insert(CommentLike).values(
                    comment_id=row.id, user_id=viewer.user_id, created_at=now
                )
            )
    except IntegrityError:
        return LikeState(liked=True, like_count=row.like_count)
    await session.execute(
        update(Comment)
        .where(Comment.id == row.id)
        .values(like_count=Comment.like_count + 1, hot_score=Comment.hot_score + 1)
    )
    if row.author_id != viewer.user_id:
        liker = (await queries.authors(uow.session, {viewer.user_id})).get(viewer.user_id)
        await notifications.notify(
            uow,
            user_id=row.author_id,
            type="comment.liked",
            title=f"{liker.nickname if liker else 'Someone'} liked your comment",
            data={"comment_id": row.id, "target_type": row.target_type, "target_id": row.target_id},
            actor_id=viewer.user_id,
            group_key=f"like:comment:{row.id}",
        )
    return LikeState(liked=True, like_count=row.like_count + 1)


async def unlike_comment(
    uow: UnitOfWork, *, viewer: Viewer, comment_id: int, now: datetime
) -> LikeState:
    """Take a like back; a comment one does not like stays as it is."""
    row = await _likeable(uow, viewer=viewer, comment_id=comment_id, now=now)
    removed = await uow.session.execute(
        delete(CommentLike).where(
            CommentLike.comment_id == row.id, CommentLike.user_id == viewer.user_id
        )
    )
    if not getattr(removed, "rowcount", 0):
        return LikeState(liked=False, like_count=row.like_count)
    await uow.session.execute(
        update(Comment)
        .where(Comment.id == row.id)
        .values(like_count=Comment.like_count - 1, hot_score=Comment.hot_score - 1)
    )
    return LikeState(liked=False, like_count=row.like_count - 1)
