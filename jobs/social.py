"""Comment, like and community tasks."""

from __future__ import annotations

from typing import Any

from jobs.recovery import acknowledge
from jobs.registry import runtime_of, task
from server.social.comments import erasure


@task(erasure.FORGET_AUTHOR, timeout=120)
async def forget_author(ctx: dict[str, Any], *, user_id: int, outbox_id: int | None = None) -> int:
    """Forget an erased account's comments, posts, likes and favorites (safe to run again); the
    job's outbox row is kept until then."""
    runtime = runtime_of(ctx)
    moved = await erasure.forget_author(runtime, user_id=user_id)
    await acknowledge(runtime, outbox_id)
    return moved


TASKS = (forget_author,)
