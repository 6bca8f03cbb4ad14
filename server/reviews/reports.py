"""Reviews as report targets: reports on them land in the shared moderation queue."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.catalog import Review
from server.moderation.service import OwnTarget, TargetNotFound, register_target


async def check_review(session: AsyncSession, target_id: int, reporter_id: int) -> None:
    """A review that exists, written by someone else."""
    author = await session.scalar(select(Review.user_id).where(Review.id == target_id))
    if author is None:
        raise TargetNotFound()
    if author == reporter_id:
        raise OwnTarget()


def register() -> None:
    """Let reports name reviews (idempotent)."""
    register_target("review", check_review)
