"""Comment, like and community tasks."""

from __future__ import annotations

from typing import Any

from jobs.registry import runtime_of, task
from server.comments import erasure


@task(erasure.FORGET_AUTHOR, timeout=120)
async def forget_author(ctx: dict[str, Any], *, user_id: int) -> int:
    """Forget an erased account's comments, posts, likes and favorites (safe to run again)."""
    return await erasure.forget_author(runtime_of(ctx), user_id=user_id)
