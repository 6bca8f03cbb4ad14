"""Reviews as report targets: reports on them land in the shared moderation queue.

The composition root registers the check and the uphold action (server/app.py).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.commerce.reviews import Review
from server.commerce.catalog.products import Actor
from server.commerce.reviews import service
from server.content.moderation.service import (
    OwnTarget,
    TargetNotFound,
    Upheld,
    Uphold,
)
from server.db import UnitOfWork


async def check_review(session: AsyncSession, target_id: int, reporter_id: int) -> None:
    """A review that exists, written by someone else."""
    author = await session.scalar(select(Review.user_id).where(Review.id == target_id))
    if author is None:
        raise TargetNotFound()
    if author == reporter_id:
        raise OwnTarget()


async def uphold_review(uow: UnitOfWork, uphold: Uphold) -> Upheld:
    """An upheld report deletes the review (the product's rating follows), as an admin would."""
    author = await uow.session.scalar(select(Review.user_id).where(Review.id == uphold.target_id))
    if author is None:
        return Upheld(removed=False)
    assert uphold.moderator.user_id is not None
    moderator = Actor(user_id=uphold.moderator.user_id, is_admin=True, is_creator=False)
    await service.delete_review(uow.session, actor=moderator, review_id=uphold.target_id)
    return Upheld(removed=True, author_id=author)
