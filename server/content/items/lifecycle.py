"""The review and publishing cycle: submit, approve, reject, scheduled publishing, archive."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from models.content.items import Content
from server import screening
from server.content.items import indexing, offers, service
from server.content.items.access import Viewer
from server.content.items.schemas import DraftOut
from server.db import UnitOfWork
from server.http.errors import ValidationFailed


async def submit(
    uow: UnitOfWork,
    *,
    viewer: Viewer,
    content_id: int,
    publish_at: datetime | None,
    review_required: bool,
    now: datetime,
    screening_policy: screening.ScreeningPolicy | None = None,
) -> DraftOut:
    """Send the working copy for review as a new version (or publish it when review is off)."""
    session = uow.session
    content = await service.load_for_edit(session, viewer=viewer, content_id=content_id, lock=True)
    if content.status not in ("draft", "rejected", "published"):
        raise service.IllegalTransition(f"Content that is {content.status} cannot be submitted.")
    if not content.title.strip() or (content.kind == "article" and not content.body.strip()):
        raise ValidationFailed(fields={"body": "An article needs a title and a body."})
    assert viewer.user_id is not None
    held = await screening.screen_submission(uow, content=content, policy=screening_policy)
    number = await service.snapshot(
        session, content=content, editor_id=viewer.user_id, note="submitted", now=now
    )
    content.review_version = number
    content.scheduled_at = publish_at if publish_at and publish_at > now else None
    content.review_note = None
    if content.status != "published":
        content.status = "in_review"
    content.updated_at = now
    await session.flush()
    if not review_required and not held:
        return await _approve(uow, content, note=None, now=now)
    return await service.draft_of(session, content)


async def approve(uow: UnitOfWork, *, content_id: int, note: str | None, now: datetime) -> DraftOut:
    """A moderator accepts the version in review: published now, or scheduled for later."""
    content = await service.load(uow.session, content_id=content_id, lock=True)
    if content.review_version is None:
        raise service.IllegalTransition("Nothing of this content is waiting for review.")
    return await _approve(uow, content, note=note, now=now)


async def _approve(
    uow: UnitOfWork, content: Content, *, note: str | None, now: datetime
) -> DraftOut:
    session = uow.session
    assert content.review_version is not None
    content.review_note = note
    if content.scheduled_at is not None and content.scheduled_at > now:
        if content.status != "published":
            content.status = "scheduled"
        delay = (content.scheduled_at - now).total_seconds()
        uow.outbox.enqueue(
            "content.publish_scheduled",
            job_id=f"publish:{content.id}:{content.review_version}",
            defer_seconds=delay,
            content_id=content.id,
        )
        await session.flush()
        await service.notify_author(
            uow,
            content,
            type="content.approved",
            title=f"“{content.title}” was approved",
            body=f"It will be published at {content.scheduled_at.isoformat()}.",
        )
        return await service.draft_of(session, content)
    await _publish(uow, content, now=now)
    await service.notify_author(
        uow,
        content,
        type="content.published",
        title=f"“{content.title}” is published",
        body=note or "",
    )
    return await service.draft_of(session, content)


async def _publish(uow: UnitOfWork, content: Content, *, now: datetime) -> None:
    assert content.review_version is not None
    version = await service._version(
        uow.session, content_id=content.id, number=content.review_version
    )
    service.publish_version(content, version, now=now)
    await uow.session.flush()
    await indexing.index_content(uow.session, content_id=content.id, now=now)
    await offers.sync(uow.session, content=content, now=now)
    uow.outbox.publish(
        "content.updated",
        {"id": content.id, "published_version": content.published_version},
        room=f"content:{content.id}",
    )


async def reject(uow: UnitOfWork, *, content_id: int, reason: str, now: datetime) -> DraftOut:
    """A moderator sends the version back with a reason; a published item stays published."""
    session = uow.session
    content = await service.load(session, content_id=content_id, lock=True)
    if content.review_version is None:
        raise service.IllegalTransition("Nothing of this content is waiting for review.")
    content.review_version = None
    content.scheduled_at = None
    content.review_note = reason
    if content.status != "published":
        content.status = "rejected"
    content.updated_at = now
    await session.flush()
    await service.notify_author(
        uow,
        content,
        type="content.rejected",
        title=f"“{content.title}” was not approved",
        body=reason,
    )
    return await service.draft_of(session, content)


async def publish_scheduled(uow: UnitOfWork, *, content_id: int, now: datetime) -> bool:
    """Publish an approved item whose time has come; False if it is not due (or gone)."""
    content = (
        await uow.session.scalars(select(Content).where(Content.id == content_id).with_for_update())
    ).one_or_none()
    if (
        content is None
        or content.review_version is None
        or content.scheduled_at is None
        or content.scheduled_at > now
        or content.status not in ("scheduled", "published")
    ):
        return False
    await _publish(uow, content, now=now)
    await service.notify_author(
        uow, content, type="content.published", title=f"“{content.title}” is published", body=""
    )
    return True


async def due_for_publishing(uow: UnitOfWork, *, now: datetime, limit: int = 100) -> list[int]:
    """Approved items whose publishing time has passed (the safety net behind deferred jobs)."""
    rows = await uow.session.scalars(
        select(Content.id)
        .where(
            Content.scheduled_at <= now,
            Content.review_version.is_not(None),
            Content.status.in_(("scheduled", "published")),
        )
        .limit(limit)
    )
    return list(rows)


async def archive(uow: UnitOfWork, *, viewer: Viewer, content_id: int, now: datetime) -> DraftOut:
    """Withdraw a published item: those entitled keep reading it, nobody else finds it."""
    content = await service.load_for_edit(
        uow.session, viewer=viewer, content_id=content_id, lock=True
    )
    if content.status != "published":
        raise service.IllegalTransition("Only published content can be archived.")
    content.status = "archived"
    content.archived_at = content.updated_at = now
    content.review_version = None
    content.scheduled_at = None
    await uow.session.flush()
    await indexing.remove_content(uow.session, content_id=content.id)
    await offers.sync(uow.session, content=content, now=now)
    uow.outbox.publish("content.archived", {"id": content.id}, room=f"content:{content.id}")
    return await service.draft_of(uow.session, content)


async def restore(uow: UnitOfWork, *, viewer: Viewer, content_id: int, now: datetime) -> DraftOut:
    """Publish an archived item again (its last published version)."""
    content = await service.load_for_edit(
        uow.session, viewer=viewer, content_id=content_id, lock=True
    )
    if content.status != "archived":
        raise service.IllegalTransition("Only archived content can be restored.")
    content.status = "published"
    content.archived_at = None
    content.updated_at = now
    await uow.session.flush()
    await indexing.index_content(uow.session, content_id=content.id, now=now)
    await offers.sync(uow.session, content=content, now=now)
    return await service.draft_of(uow.session, content)
