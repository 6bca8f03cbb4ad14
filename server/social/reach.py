"""Who may reach whom: the block checks that following, commenting, messaging and presence make
before one person touches another. Blocks are written by `server.social.blocks`; these reads sit
at the wing's root so that every social domain can ask them, blocks included, without a cycle."""

from __future__ import annotations

from sqlalchemy import or_, select

from models.social.blocks import UserBlock
from server.db import Reader


async def is_blocked(reader: Reader, *, owner_id: int, other_id: int) -> bool:
    """Whether `owner_id` blocked `other_id`."""
    found = await reader.scalar(
        select(UserBlock.id).where(UserBlock.owner_id == owner_id, UserBlock.blocked_id == other_id)
    )
    return found is not None


async def blocked_between(reader: Reader, a: int, b: int) -> bool:
    """Whether either of two users blocked the other (one query)."""
    found = await reader.scalar(
        select(UserBlock.id)
        .where(
            or_(
                (UserBlock.owner_id == a) & (UserBlock.blocked_id == b),
                (UserBlock.owner_id == b) & (UserBlock.blocked_id == a),
            )
        )
        .limit(1)
    )
    return found is not None


async def blocked_ids(reader: Reader, *, user_id: int, others: list[int]) -> set[int]:
    """Those of `others` with a block either way with `user_id` (one query)."""
    if not others:
        return set()
    rows = await reader.execute(
        select(UserBlock.owner_id, UserBlock.blocked_id).where(
            or_(
                (UserBlock.owner_id == user_id) & UserBlock.blocked_id.in_(others),
                (UserBlock.blocked_id == user_id) & UserBlock.owner_id.in_(others),
            )
        )
    )
    return {row.blocked_id if row.owner_id == user_id else row.owner_id for row in rows}
