"""Posts as report targets, and who may join a post's room.

The composition root registers the check, the uphold action and the room check (server/app.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.social.community import Post
from server.content.moderation.service import (
    OwnTarget,
    TargetNotFound,
    Upheld,
    Uphold,
)
from server.db import UnitOfWork
from server.http.guards import Principal
from server.runtime import Runtime
from server.social.community import service


async def check_post(session: AsyncSession, target_id: int, reporter_id: int) -> None:
    """A post still standing (not deleted), written by someone else."""
    row = (
        await session.execute(select(Post.author_id, Post.status).where(Post.id == target_id))
    ).one_or_none()
    if row is None or row.status == "deleted":
        raise TargetNotFound()
    if row.author_id == reporter_id:
        raise OwnTarget()


async def uphold_post(uow: UnitOfWork, uphold: Uphold) -> Upheld:
    """An upheld report hides the post (a shown or held one)."""
    row = (
        await uow.session.execute(
            select(Post.author_id, Post.status).where(Post.id == uphold.target_id)
        )
    ).one_or_none()
    if row is None or row.status in ("hidden", "deleted"):
        return Upheld(removed=False)
    await service.moderate_post(
        uow,
        moderator=uphold.moderator,
        post_id=uphold.target_id,
        action="hide",
        note=uphold.note,
        ip=uphold.ip,
        clock=uphold.clock,
    )
    return Upheld(removed=True, author_id=row.author_id)


def room_check(runtime: Callable[[], Runtime]) -> Callable[[Principal, str], Awaitable[bool]]:
    """Who may join `post:<id>` (new replies live): whoever can read the post."""

    async def check(principal: Principal, room_id: str) -> bool:
        # isdigit alone passes "²" and other digits int() refuses.
        if not (room_id.isascii() and room_id.isdigit()) or len(room_id) > 18:
            return False
        async with runtime().db.connection() as conn:
            row = (
                await conn.execute(
                    select(Post.author_id, Post.status).where(Post.id == int(room_id))
                )
            ).one_or_none()
        if row is None:
            return False
        staff = not principal.roles.isdisjoint({"moderator", "admin"})
        return row.status == "visible" or row.author_id == principal.user_id or staff

    return check
