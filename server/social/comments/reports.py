"""Comments as report targets: reports on them land in the shared moderation queue.

The composition root registers the check and the uphold action (server/app.py).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.social.comments import Comment
from server.content.moderation.service import (
    OwnTarget,
    TargetNotFound,
    Upheld,
    Uphold,
)
from server.db import UnitOfWork
from server.social.comments import service


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


async def uphold_comment(uow: UnitOfWork, uphold: Uphold) -> Upheld:
    """An upheld report hides the comment (a shown or held one); its item's count follows, through
    the outbox in the same transaction."""
    row = (
        await uow.session.execute(
            select(Comment.author_id, Comment.status).where(Comment.id == uphold.target_id)
        )
    ).one_or_none()
    if row is None or row.status in ("hidden", "deleted"):
        return Upheld(removed=False)
    await service.moderate_comment(
        uow,
        moderator=uphold.moderator,
        comment_id=uphold.target_id,
        action="hide",
        note=uphold.note,
        ip=uphold.ip,
        clock=uphold.clock,
    )
    return Upheld(removed=True, author_id=row.author_id)
