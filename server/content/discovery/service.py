"""Sharing and featuring."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from models.content.items import Content
from server.audit import record_admin_action
from server.clock import Clock
from server.content import counters
from server.content.discovery.schemas import FeatureOut
from server.content.items.access import Item, Level, Viewer, can_read
from server.content.items.service import ContentNotFound
from server.db import UnitOfWork
from server.http.errors import Conflict
from server.runtime import Runtime


class NotPublished(Conflict):
    code, message = "discovery.not_published", "Only published content can be featured."


async def share(
    runtime: Runtime, *, viewer: Viewer, content_id: int, channel: str, ip: str
) -> bool:
    """Count a share of an item the viewer can see (404 otherwise); False when deduplicated."""
    async with runtime.db.connection() as conn:
        row = (
            await conn.execute(
                select(
                    Content.id, Content.author_id, Content.status, Content.access, Content.parent_id
                ).where(Content.id == content_id)
            )
        ).one_or_none()
        if row is None:
            raise ContentNotFound()
        item = Item(row.id, row.author_id, row.status, row.access, row.parent_id)
        level = await can_read(conn, viewer=viewer, item=item, now=runtime.clock.now())
    if level is Level.NONE or row.status != "published":
        raise ContentNotFound()
    return await counters.record_share(
        runtime, content_id=content_id, channel=channel, user_id=viewer.user_id, ip=ip
    )


async def set_featured(
    uow: UnitOfWork,
    *,
    admin_id: int,
    content_id: int,
    featured: bool,
    ip: str | None,
    clock: Clock,
) -> FeatureOut:
    """Feature a published item (kept when already featured) or stop featuring one; audited."""
    session = uow.session
    row = (
        await session.execute(
            select(Content.status, Content.featured_at)
            .where(Content.id == content_id)
            .with_for_update()
        )
    ).one_or_none()
    if row is None:
        raise ContentNotFound()
    if featured and row.status != "published":
        raise NotPublished()
    featured_at: datetime | None = row.featured_at
    if featured != (featured_at is not None):
        featured_at = clock.now() if featured else None
        await session.execute(
            update(Content).where(Content.id == content_id).values(featured_at=featured_at)
        )
        await record_admin_action(
            session,
            admin_id=admin_id,
            action="content.feature" if featured else "content.unfeature",
            target_type="content",
            target_id=content_id,
            ip=ip,
            clock=clock,
        )
    return FeatureOut(content_id=content_id, featured_at=featured_at)
