"""Writing content: create, autosave, settings, versions, and the review and publishing cycle.

Lifecycle: draft -> in_review -> published | rejected; published -> archived -> published.
An approved item whose author asked for a later time is `scheduled` until a job publishes it.
A published item stays published while an update of it waits for review (`review_version`).
"""

from __future__ import annotations

import difflib
import secrets
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models.content.items import Category, Content, ContentTag, ContentVersion, Entitlement, Tag
from models.identity.users import User
from server.audit import record_admin_action
from server.content.items import access, indexing, markdown, offers
from server.content.items.access import Viewer
from server.content.items.schemas import (
    Comparison,
    ContentCreate,
    ContentPatch,
    DraftOut,
    DraftSave,
    DraftSaved,
    EntitlementGrant,
    EntitlementOut,
    VersionDetail,
    VersionOut,
)
from server.db import UnitOfWork
from server.http.errors import Conflict, Forbidden, NotFound, ValidationFailed
from server.notify.notifications import service as notifications

EDITABLE = ("draft", "in_review", "published", "scheduled", "rejected")


class ContentNotFound(NotFound):
    code, message = "content.not_found", "No such content."


class NotAuthor(Forbidden):
    code, message = "content.not_author", "Only the author may change this content."


class RevisionConflict(Conflict):
    code, message = (
        "content.revision_conflict",
        "The draft was saved elsewhere since you loaded it; reload it and merge.",
    )


class IllegalTransition(Conflict):
    code, message = "content.illegal_transition", "The content is not in a state that allows this."


class VersionNotFound(NotFound):
    code, message = "content.version_not_found", "No such version."


class InvalidReference(ValidationFailed):
    code, message = "content.invalid_reference", "A referenced item does not fit."


async def load(session: AsyncSession, *, content_id: int, lock: bool = False) -> Content:
    query = select(Content).where(Content.id == content_id)
    row = (await session.scalars(query.with_for_update() if lock else query)).one_or_none()
    if row is None:
        raise ContentNotFound()
    return row


async def load_for_edit(
    session: AsyncSession, *, viewer: Viewer, content_id: int, lock: bool = False
) -> Content:
    """The item if the viewer is its author (or staff); 404 to those who cannot see it."""
    content = await load(session, content_id=content_id, lock=lock)
    if viewer.is_staff or content.author_id == viewer.user_id:
        return content
    if content.status == "published":
        raise NotAuthor()
    raise ContentNotFound()


async def _check_references(
    session: AsyncSession,
    *,
    author_id: int,
    kind: str,
    parent_id: int | None,
    category_id: int | None,
) -> None:
    if category_id is not None and await session.get(Category, category_id) is None:
        raise InvalidReference(fields={"body.category_id": "No such category."})
    if parent_id is None:
        return
    parent = await session.get(Content, parent_id)
    if parent is None or parent.kind != "course" or parent.author_id != author_id:
        raise InvalidReference(fields={"body.parent_id": "Chapters belong to one of your courses."})
    if kind == "course":
        raise InvalidReference(fields={"body.kind": "A course cannot be a chapter."})


async def create_content(
    uow: UnitOfWork, *, viewer: Viewer, body: ContentCreate, now: datetime
) -> DraftOut:
    """A new draft by the viewer."""
    session = uow.session
    assert viewer.user_id is not None
    await _check_references(
        session,
        author_id=viewer.user_id,
        kind=body.kind,
        parent_id=body.parent_id,
        category_id=body.category_id,
    )
    content = Content(
        author_id=viewer.user_id,
        kind=body.kind,
        status="draft",
        parent_id=body.parent_id,
        position=body.position or 0,
        category_id=body.category_id,
        access=body.access or "free",
        price_cents=body.price_cents or 0,
        currency=body.currency or "CNY",
        cover_url=None if body.cover_url is None else str(body.cover_url),
        title=body.title,
        summary=body.summary,
        body=body.body,
        revision=1,
        saved_at=now,
        created_at=now,
        updated_at=now,
    )
    _check_price(content)
    session.add(content)
    await session.flush()
    if body.tags:
        await set_tags(session, content_id=content.id, names=body.tags)
    return await draft_of(session, content)


def _check_price(content: Content) -> None:
    if content.access == "paid" and content.price_cents <= 0:
        raise ValidationFailed(fields={"body.price_cents": "Paid content needs a price above 0."})


async def save_draft(
    uow: UnitOfWork, *, viewer: Viewer, content_id: int, changes: DraftSave, now: datetime
) -> DraftSaved:
    """Autosave: one guarded UPDATE; a stale `revision` is refused, never overwritten."""
    session = uow.session
    values: dict[str, Any] = {
        name: getattr(changes, name)
        for name in ("title", "summary", "body")
        if name in changes.model_fields_set and getattr(changes, name) is not None
    }
    result = await session.execute(
        update(Content)
        .where(
            Content.id == content_id,
            Content.revision == changes.revision,
            Content.status.in_(EDITABLE),
            *([] if viewer.is_staff else [Content.author_id == viewer.user_id]),
        )
        .values(**values, revision=Content.revision + 1, saved_at=now, updated_at=now)
    )
    if cast(CursorResult[Any], result).rowcount == 1:
        return DraftSaved(revision=changes.revision + 1, saved_at=now)
    content = await load_for_edit(session, viewer=viewer, content_id=content_id)
    if content.status not in EDITABLE:
        raise IllegalTransition("Archived content cannot be edited; restore it first.")
    raise RevisionConflict(fields={"body.revision": f"The current revision is {content.revision}."})


async def update_settings(
    uow: UnitOfWork, *, viewer: Viewer, content_id: int, changes: ContentPatch, now: datetime
) -> DraftOut:
    """Change how the item is sold and filed."""
    session = uow.session
    content = await load_for_edit(session, viewer=viewer, content_id=content_id, lock=True)
    fields = changes.model_fields_set
    if "category_id" in fields:
        await _check_references(
            session,
            author_id=content.author_id,
            kind=content.kind,
            parent_id=None,
            category_id=changes.category_id,
        )
    for name in ("access", "price_cents", "currency", "position"):
        if name in fields and getattr(changes, name) is not None:
            setattr(content, name, getattr(changes, name))
    if "category_id" in fields:
        content.category_id = changes.category_id
    if "cover_url" in fields:
        content.cover_url = None if changes.cover_url is None else str(changes.cover_url)
    _check_price(content)
    content.updated_at = now
    if changes.tags is not None:
        await set_tags(session, content_id=content.id, names=changes.tags)
    await session.flush()
    # One price: the item's one-off product follows it in this transaction.
    await offers.sync(session, content=content, now=now)
    if content.status == "published":
        await indexing.index_content(session, content_id=content.id, now=now)
        uow.outbox.publish("content.updated", {"id": content.id}, room=f"content:{content.id}")
    return await draft_of(session, content)


async def set_tags(session: AsyncSession, *, content_id: int, names: list[str]) -> None:
    """Replace the item's tags (names already normalised), creating new tags as needed."""
    ids = await tag_ids(session, names=names)
    await session.execute(delete(ContentTag).where(ContentTag.content_id == content_id))
    if ids:
        await session.execute(
            insert(ContentTag), [{"content_id": content_id, "tag_id": tag_id} for tag_id in ids]
        )


async def tag_ids(session: AsyncSession, *, names: list[str]) -> list[int]:
    """Ids of these tags, inserting the missing ones (a concurrent insert of one is fine)."""
    if not names:
        return []
    rows = await session.execute(select(Tag.name, Tag.id).where(Tag.name.in_(names)))
    found: dict[str, int] = {name: tag_id for name, tag_id in rows}
    for name in names:
        if name not in found:
            try:
                async with session.begin_nested():
                    tag = Tag(name=name)
                    session.add(tag)
                    await session.flush()
                    found[name] = tag.id
            except IntegrityError:  # a concurrent writer created it: read it back
                found[name] = (await session.scalars(select(Tag.id).where(Tag.name == name))).one()
    return [found[name] for name in names]


async def draft_of(session: AsyncSession, content: Content) -> DraftOut:
    tags = (
        await session.scalars(
            select(Tag.name)
            .join(ContentTag, ContentTag.tag_id == Tag.id)
            .where(ContentTag.content_id == content.id)
            .order_by(Tag.name)
        )
    ).all()
    return DraftOut.model_validate(
        {
            **{name: getattr(content, name) for name in DraftOut.model_fields if name != "tags"},
            "tags": list(tags),
        }
    )


async def get_draft(session: AsyncSession, *, viewer: Viewer, content_id: int) -> DraftOut:
    content = await load_for_edit(session, viewer=viewer, content_id=content_id)
    return await draft_of(session, content)


async def snapshot(
    session: AsyncSession, *, content: Content, editor_id: int, note: str | None, now: datetime
) -> int:
    """Save the working copy as the next version (the content row is locked by the caller)."""
    number = (
        await session.scalar(
            select(func.coalesce(func.max(ContentVersion.number), 0)).where(
                ContentVersion.content_id == content.id
            )
        )
        or 0
    ) + 1
    session.add(
        ContentVersion(
            content_id=content.id,
            number=number,
            title=content.title,
            summary=content.summary,
            body=content.body,
            note=note,
            editor_id=editor_id,
            created_at=now,
        )
    )
    await session.flush()
    return number


async def save_version(
    uow: UnitOfWork, *, viewer: Viewer, content_id: int, note: str | None, now: datetime
) -> VersionOut:
    """Keep the working copy as a named version."""
    content = await load_for_edit(uow.session, viewer=viewer, content_id=content_id, lock=True)
    assert viewer.user_id is not None
    number = await snapshot(
        uow.session, content=content, editor_id=viewer.user_id, note=note, now=now
    )
    return VersionOut(
        number=number, title=content.title, note=note, editor_id=viewer.user_id, created_at=now
    )


async def list_versions(
    session: AsyncSession, *, viewer: Viewer, content_id: int
) -> list[VersionOut]:
    await load_for_edit(session, viewer=viewer, content_id=content_id)
    rows = await session.execute(
        select(
            ContentVersion.number,
            ContentVersion.title,
            ContentVersion.note,
            ContentVersion.editor_id,
            ContentVersion.created_at,
        )
        .where(ContentVersion.content_id == content_id)
        .order_by(ContentVersion.number.desc())
    )
    return [VersionOut.model_validate(row._asdict()) for row in rows]


async def _version(session: AsyncSession, *, content_id: int, number: int) -> ContentVersion:
    version = (
        await session.scalars(
            select(ContentVersion).where(
                ContentVersion.content_id == content_id, ContentVersion.number == number
            )
        )
    ).one_or_none()
    if version is None:
        raise VersionNotFound()
    return version


async def get_version(
    session: AsyncSession, *, viewer: Viewer, content_id: int, number: int
) -> VersionDetail:
    await load_for_edit(session, viewer=viewer, content_id=content_id)
    version = await _version(session, content_id=content_id, number=number)
    return VersionDetail.model_validate(version, from_attributes=True)


def _text(title: str, summary: str, body: str) -> list[str]:
    return [f"# {title}\n", f"> {summary}\n", "\n", *body.splitlines(keepends=True)]


async def compare(
    session: AsyncSession, *, viewer: Viewer, content_id: int, start: int, end: int | None
) -> Comparison:
    """A unified diff from version `start` to version `end` (or to the working copy)."""
    content = await load_for_edit(session, viewer=viewer, content_id=content_id)
    old = await _version(session, content_id=content_id, number=start)
    new: Any = (
        content if end is None else await _version(session, content_id=content_id, number=end)
    )
    diff = difflib.unified_diff(
        _text(old.title, old.summary, old.body),
        _text(new.title, new.summary, new.body),
        fromfile=f"v{start}",
        tofile="working copy" if end is None else f"v{end}",
    )
    return Comparison(from_version=start, to_version=end, diff="".join(diff))


async def revert(
    uow: UnitOfWork, *, viewer: Viewer, content_id: int, number: int, now: datetime
) -> DraftOut:
    """Make version `number` the working copy; the copy it replaces is kept as a version first."""
    session = uow.session
    content = await load_for_edit(session, viewer=viewer, content_id=content_id, lock=True)
    if content.status not in EDITABLE:
        raise IllegalTransition("Archived content cannot be edited; restore it first.")
    version = await _version(session, content_id=content_id, number=number)
    assert viewer.user_id is not None
    await snapshot(
        session,
        content=content,
        editor_id=viewer.user_id,
        note=f"before revert to v{number}",
        now=now,
    )
    content.title, content.summary, content.body = version.title, version.summary, version.body
    content.revision += 1
    content.saved_at = content.updated_at = now
    await session.flush()
    return await draft_of(session, content)


async def delete_draft(uow: UnitOfWork, *, viewer: Viewer, content_id: int, now: datetime) -> None:
    """Delete an item that was never published; published ones are archived instead."""
    session = uow.session
    content = await load_for_edit(session, viewer=viewer, content_id=content_id, lock=True)
    if content.published_version is not None or content.status not in ("draft", "rejected"):
        raise IllegalTransition("Only drafts that were never published can be deleted; archive it.")
    if await session.scalar(select(Content.id).where(Content.parent_id == content_id).limit(1)):
        raise IllegalTransition("Delete or move the course's chapters first.")
    await offers.retire(session, content_id=content_id, now=now)
    await session.execute(delete(ContentVersion).where(ContentVersion.content_id == content_id))
    await session.execute(delete(ContentTag).where(ContentTag.content_id == content_id))
    await session.delete(content)
    await session.flush()


def publish_version(content: Content, version: ContentVersion, *, now: datetime) -> None:
    """Readers now see `version`; the first publication stamps `published_at`."""
    content.published_version = version.number
    content.published_title = version.title
    content.published_summary = version.summary
    content.published_html = markdown.render(version.body)
    content.preview_html = markdown.preview(version.body)
    content.published_at = content.published_at or now
    content.status = "published"
    content.review_version = None
    content.scheduled_at = None
    content.updated_at = now


async def notify_author(
    uow: UnitOfWork, content: Content, *, type: str, title: str, body: str
) -> None:
    await notifications.notify(
        uow,
        user_id=content.author_id,
        type=type,
        title=title,
        body=body,
        data={"content_id": content.id},
    )


class UnknownSubject(ValidationFailed):
    code, message = "content.unknown_subject", "The user or the content does not exist."


async def grant_by_admin(
    session: AsyncSession, *, admin_id: int, body: EntitlementGrant, now: datetime
) -> EntitlementOut:
    """An admin lets a user read something (support, gifts, partners); audited."""
    if await session.get(User, body.user_id) is None:
        raise UnknownSubject(fields={"body.user_id": "No such user."})
    if body.subject_type == "content" and await session.get(Content, body.subject_id) is None:
        raise UnknownSubject(fields={"body.subject_id": "No such content."})
    if body.ends_at is not None and body.ends_at <= now:
        raise ValidationFailed(fields={"body.ends_at": "The end must be in the future."})
    source_id = secrets.token_hex(8)
    entitlement_id = await access.grant(
        session,
        user_id=body.user_id,
        subject_type=body.subject_type,
        subject_id=body.subject_id,
        source="admin",
        source_id=source_id,
        starts_at=now,
        ends_at=body.ends_at,
    )
    await record_admin_action(
        session,
        admin_id=admin_id,
        action="entitlement.granted",
        target_type="user",
        target_id=body.user_id,
        detail={
            "entitlement_id": entitlement_id,
            "subject": f"{body.subject_type}:{body.subject_id}",
            "note": body.note,
        },
    )
    row = await session.get(Entitlement, entitlement_id)
    return EntitlementOut.model_validate(row, from_attributes=True)
