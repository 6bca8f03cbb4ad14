"""THE access policy: who may read which content. REST, search, media links, realtime rooms
and tutor answers all ask `access_levels` (or `can_read`); nothing else decides.

A viewer gets one of three levels for an item:
- FULL: the whole published body (and its media);
- PREVIEW: what is before the paywall marker, plus title and summary;
- NONE: the item does not exist for them (404).

Authors, moderators and admins read everything in any state. Published free items are FULL
for everyone. Paid, subscription and members-only items are FULL with an active entitlement
(on the item, on its course, on a plan that includes either, or a membership) and PREVIEW
without. Archived items stay FULL for those entitled (buyers keep what they bought) and are
NONE for everyone else; drafts, items in review, rejected and scheduled ones are NONE.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web
from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models.content.items import Content, Entitlement, PlanContent
from server.db import Reader
from server.keys import PRINCIPAL

STAFF_ROLES = frozenset({"moderator", "admin"})


class Level(enum.IntEnum):
    NONE = 0
    PREVIEW = 1
    FULL = 2


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is looking: nobody (anonymous), or a user with roles."""

    user_id: int | None = None
    roles: frozenset[str] = frozenset()

    @property
    def is_staff(self) -> bool:
        return not self.roles.isdisjoint(STAFF_ROLES)


ANONYMOUS = Viewer()


def viewer_of(request: web.Request) -> Viewer:
    """The caller as the access policy sees them (anonymous without a token)."""
    principal = request.get(PRINCIPAL)
    if principal is None:
        return ANONYMOUS
    return Viewer(principal.user_id, principal.roles)


@dataclass(frozen=True, slots=True)
class Item:
    """What the policy needs to know about one content item."""

    id: int
    author_id: int
    status: str
    access: str
    parent_id: int | None = None


async def access_levels(
    reader: Reader, *, viewer: Viewer, items: list[Item], now: datetime
) -> dict[int, Level]:
    """The viewer's level for each item, in at most two queries whatever the number of items."""
    levels: dict[int, Level] = {}
    pending: list[Item] = []
    for item in items:
        own = viewer.user_id is not None and item.author_id == viewer.user_id
        free = item.status == "published" and item.access == "free"
        if viewer.is_staff or own or free:
            levels[item.id] = Level.FULL
        elif item.status in ("published", "archived"):
            pending.append(item)
        else:
            levels[item.id] = Level.NONE
    if pending:
        entitled = await _entitled(reader, viewer=viewer, items=pending, now=now)
        for item in pending:
            if item.id in entitled:
                levels[item.id] = Level.FULL
            else:
                levels[item.id] = Level.PREVIEW if item.status == "published" else Level.NONE
    return levels


async def items_by_id(reader: Reader, content_ids: list[int]) -> dict[int, Item]:
    """What the policy needs of each existing item among `content_ids`, in one query."""
    if not content_ids:
        return {}
    rows = await reader.execute(
        select(
            Content.id, Content.author_id, Content.status, Content.access, Content.parent_id
        ).where(Content.id.in_(content_ids))
    )
    return {
        row.id: Item(row.id, row.author_id, row.status, row.access, row.parent_id) for row in rows
    }


async def level_of(reader: Reader, *, viewer: Viewer, content_id: int, now: datetime) -> Level:
    """The viewer's level for the item with this id (NONE when there is no such item)."""
    item = (await items_by_id(reader, [content_id])).get(content_id)
    return Level.NONE if item is None else await can_read(reader, viewer=viewer, item=item, now=now)


async def can_read(reader: Reader, *, viewer: Viewer, item: Item, now: datetime) -> Level:
    """The viewer's level for one item."""
    return (await access_levels(reader, viewer=viewer, items=[item], now=now))[item.id]


async def _entitled(
    reader: Reader, *, viewer: Viewer, items: list[Item], now: datetime
) -> set[int]:
    """Ids of the items the viewer holds an active entitlement for."""
    if viewer.user_id is None:
        return set()
    # An entitlement on a course covers its chapters.
    subjects = {item.id: {item.id, *([item.parent_id] if item.parent_id else [])} for item in items}
    content_ids = set().union(*subjects.values())
    plans_of: dict[int, set[int]] = {}
    if any(item.access == "subscription" for item in items):
        rows = await reader.execute(
            select(PlanContent.plan_id, PlanContent.content_id).where(
                PlanContent.content_id.in_(content_ids)
            )
        )
        for plan_id, content_id in rows:
            plans_of.setdefault(content_id, set()).add(plan_id)
    plan_ids = set().union(*plans_of.values()) if plans_of else set()
    subject_clauses = [
        and_(Entitlement.subject_type == "content", Entitlement.subject_id.in_(content_ids)),
        Entitlement.subject_type == "membership",
    ]
    if plan_ids:
        subject_clauses.append(
            and_(Entitlement.subject_type == "plan", Entitlement.subject_id.in_(plan_ids))
        )
    held = await reader.execute(
        select(Entitlement.subject_type, Entitlement.subject_id).where(
            Entitlement.user_id == viewer.user_id,
            Entitlement.revoked_at.is_(None),
            Entitlement.starts_at <= now,
            or_(Entitlement.ends_at.is_(None), Entitlement.ends_at > now),
            or_(*subject_clauses),
        )
    )
    contents: set[int] = set()
    plans: set[int] = set()
    member = False
    for subject_type, subject_id in held:
        if subject_type == "content":
            contents.add(subject_id)
        elif subject_type == "plan":
            plans.add(subject_id)
        else:
            member = True
    entitled: set[int] = set()
    for item in items:
        ids = subjects[item.id]
        if (
            (item.access == "paid" and ids & contents)
            or (
                item.access == "subscription"
                and (ids & contents or plans & set().union(*(plans_of.get(i, set()) for i in ids)))
            )
            or (item.access == "members" and (member or ids & contents))
        ):
            entitled.add(item.id)
    return entitled


async def grant(
    session: AsyncSession,
    *,
    user_id: int,
    subject_type: str,
    subject_id: int,
    source: str,
    source_id: str,
    starts_at: datetime,
    ends_at: datetime | None = None,
) -> int:
    """Record that a user may read a subject; the same source granting again is a no-op."""
    found = await _find(session, source, source_id, subject_type, subject_id)
    if found is not None:
        return found
    row = Entitlement(
        user_id=user_id,
        subject_type=subject_type,
        subject_id=subject_id,
        source=source,
        source_id=source_id,
        starts_at=starts_at,
        ends_at=ends_at,
        created_at=starts_at,
    )
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:  # the same grant, committed concurrently
        found = await _find(session, source, source_id, subject_type, subject_id)
        if found is None:
            raise
        return found
    return row.id


async def _find(
    session: AsyncSession, source: str, source_id: str, subject_type: str, subject_id: int
) -> int | None:
    return await session.scalar(
        select(Entitlement.id).where(
            Entitlement.source == source,
            Entitlement.source_id == source_id,
            Entitlement.subject_type == subject_type,
            Entitlement.subject_id == subject_id,
        )
    )


async def revoke(session: AsyncSession, *, source: str, source_id: str, now: datetime) -> int:
    """End every entitlement a source granted (a refund, a chargeback); how many ended."""
    rows = (
        await session.scalars(
            select(Entitlement).where(
                Entitlement.source == source,
                Entitlement.source_id == source_id,
                Entitlement.revoked_at.is_(None),
            )
        )
    ).all()
    for row in rows:
        row.revoked_at = now
    await session.flush()
    return len(rows)
