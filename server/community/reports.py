"""Posts as report targets, and who may join a post's room."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.social import Post
from server.http.guards import Principal
from server.moderation.service import OwnTarget, TargetNotFound, register_target
from server.runtime import Runtime


async def check_post(session: AsyncSession, target_id: int, reporter_id: int) -> None:
    """A post still standing (not deleted), written by someone else."""
    row = (
        await session.execute(select(Post.author_id, Post.status).where(Post.id == target_id))
    ).one_or_none()
    if row is None or row.status == "deleted":
        raise TargetNotFound()
    if row.author_id == reporter_id:
        raise OwnTarget()


def register() -> None:
    """Let reports name posts (idempotent)."""
    register_target("post", check_post)


def room_check(runtime: Callable[[], Runtime]) -> Callable[[Principal, str], Awaitable[bool]]:
    """Who may join `post:<id>` (new replies live): whoever can read the post."""

    async def check(principal: Principal, room_id: str) -> bool:
        if not room_id.isdigit() or len(room_id) > 18:
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
