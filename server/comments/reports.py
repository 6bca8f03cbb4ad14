"""Comments as report targets: reports on them land in the shared moderation queue."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.social import Comment
from server.moderation.service import OwnTarget, TargetNotFound, register_target


async def check_comment(session: AsyncSession, target_id: int, reporter_id: int) -> None:
    """A comment still standing (not deleted), written by someone else."""
    row = (
        await session.execute(
            select(Comment.author_id, Comment.status).where(Comment.id == target_id)
        )
    ).one_or_none()
    if row is None or row.status == "deleted":
        raise TargetNotFound()
    if row.author_id == reporter_id:
        raise OwnTarget()


def register() -> None:
    """Let reports name comments (idempotent)."""
    register_target("comment", check_comment)
