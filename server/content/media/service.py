"""Media: receiving uploads, who may see them and get links to them, attaching them to
content, and recording what processing made.

Stored keys are random (`media/<owner>/<token>.<ext>`); the client's file name is kept only,
sanitised, for display. Links to files are signed and expire; for media attached to a content
item the access policy decides (FULL: a link; PREVIEW: 403 `media.paywalled`; NONE: 404).
"""

from __future__ import annotations

from collections.abc import AsyncIterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from models.content.items import Content
from models.content.media import Media
from server import uploads
from server.content.items.access import Item, Level, Viewer, can_read
from server.content.items.service import ContentNotFound, NotAuthor
from server.content.media.checks import REFUSALS, TYPES, Inspected, display_name, inspect
from server.content.media.processing import Processed
from server.content.media.schemas import MediaOut, MediaUrl, media_out
from server.db import Reader, UnitOfWork
from server.http.errors import Conflict, Forbidden, NotFound
from server.outbox import MEDIA_QUEUE
from server.settings import Settings
from server.signing import UrlSigner
from server.storage import Storage
from server.uploads import FileType

PROCESS_TASK = "media.process"


def queue_processing(uow: UnitOfWork, *, media_id: int) -> None:
    """Have a media worker process an upload once this commits (one job id per media)."""
    uow.outbox.enqueue(
        PROCESS_TASK, job_id=f"media:{media_id}", queue=MEDIA_QUEUE, media_id=media_id
    )


DEFAULT_VARIANT = {"image": "large", "video": "rendition", "audio": "rendition"}


class MediaNotFound(NotFound):
    code, message = "media.not_found", "No such media."


class MediaPaywalled(Forbidden):
    code, message = "media.paywalled", "This media belongs to content you have not unlocked."


class MediaNotReady(Conflict):
    code, message = "media.not_ready", "The media is still being processed (or failed)."


class VariantMissing(NotFound):
    code, message = "media.variant_missing", "This media has no such variant."


class AlreadyAttached(Conflict):
    code, message = "media.already_attached", "The media is attached to another content item."


def max_bytes(settings: Settings, kind: str) -> int:
    limits = {
        "image": settings.media_image_max_bytes,
        "audio": settings.media_audio_max_bytes,
        "video": settings.media_video_max_bytes,
    }
    return limits[kind]


async def receive_upload(
    storage: Storage,
    settings: Settings,
    *,
    owner_id: int,
    kind: str,
    chunks: AsyncIterable[bytes],
) -> tuple[str, int, Inspected]:
    """Store an upload under a fresh random key and check what it is: its key, size and the
    facts found. Nothing is kept when it is refused (wrong type, too large, a bomb); a type the
    kind does not accept is refused before anything is stored."""

    async def confirm(key: str, found: FileType) -> Inspected:
        return await inspect(
            storage,
            key,
            found,
            kind=kind,
            max_pixels=settings.media_max_pixels,
            ffprobe=settings.ffprobe_path,
            time_limit=settings.media_probe_timeout_seconds,
        )

    received = await uploads.receive(
        storage,
        chunks,
        prefix=f"media/{owner_id}",
        limit=max_bytes(settings, kind),
        types=TYPES[kind],
        confirm=confirm,
        refusals=REFUSALS,
    )
    return received.key, received.size, received.found


async def create_media(
    uow: UnitOfWork,
    *,
    owner_id: int,
    kind: str,
    key: str,
    size: int,
    name: str | None,
    inspected: Inspected,
    now: datetime,
) -> MediaOut:
    """Record an accepted upload and have a media worker process it once this commits."""
    row = Media(
        owner_id=owner_id,
        kind=kind,
        status="uploaded",
        storage_key=key,
        content_type=inspected.content_type,
        size_bytes=size,
        original_name=display_name(name),
        width=inspected.width,
        height=inspected.height,
        duration_ms=inspected.duration_ms,
        variants={},
        details=inspected.details,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(row)
    await uow.session.flush()
    queue_processing(uow, media_id=row.id)
    return media_out(row)


async def _item(reader: Reader, content_id: int) -> Item | None:
    row = (
        await reader.execute(
            select(
                Content.id, Content.author_id, Content.status, Content.access, Content.parent_id
            ).where(Content.id == content_id)
        )
    ).one_or_none()
    if row is None:
        return None
    return Item(row.id, row.author_id, row.status, row.access, row.parent_id)


async def _row(reader: Reader, media_id: int) -> Any:
    return (await reader.execute(select(Media.__table__).where(Media.id == media_id))).one_or_none()


async def _level(reader: Reader, *, viewer: Viewer, row: Any, now: datetime) -> Level:
    """What the viewer may do with a media: FULL (owner, staff, or FULL on its item), PREVIEW
    (the item's preview only) or NONE."""
    if viewer.is_staff or (viewer.user_id is not None and row.owner_id == viewer.user_id):
        return Level.FULL
    if row.content_id is None:
        return Level.NONE
    item = await _item(reader, row.content_id)
    if item is None:
        return Level.NONE
    return await can_read(reader, viewer=viewer, item=item, now=now)


async def get_media(reader: Reader, *, viewer: Viewer, media_id: int, now: datetime) -> MediaOut:
    """A media's metadata, for whoever may at least preview the item it is attached to."""
    row = await _row(reader, media_id)
    if row is None or await _level(reader, viewer=viewer, row=row, now=now) is Level.NONE:
        raise MediaNotFound()
    return media_out(row)


async def media_url(
    reader: Reader,
    *,
    signer: UrlSigner,
    viewer: Viewer,
    media_id: int,
    variant: str | None,
    ttl: timedelta,
    now: datetime,
) -> MediaUrl:
    """A signed, expiring link to one variant, bound to the caller when signed in."""
    row = await _row(reader, media_id)
    level = Level.NONE if row is None else await _level(reader, viewer=viewer, row=row, now=now)
    if level is Level.NONE:
        raise MediaNotFound()
    if level is Level.PREVIEW:
        raise MediaPaywalled()
    if row.status != "ready":
        raise MediaNotReady()
    name = variant or DEFAULT_VARIANT[row.kind]
    variants: dict[str, str] = dict(row.variants or {})
    if row.kind != "image":
        variants["original"] = row.storage_key  # checked by ffprobe; images only re-encoded
    key = variants.get(name)
    if key is None:
        raise VariantMissing()
    url, expires_at = signer.sign(key, now=now, ttl=ttl, user_id=viewer.user_id)
    return MediaUrl(url=url, expires_at=expires_at)


async def attach(
    uow: UnitOfWork, *, viewer: Viewer, content_id: int, media_id: int, now: datetime
) -> MediaOut:
    """Attach a ready media of the author's own to one of their content items."""
    session = uow.session
    item = await _item(session, content_id)
    if item is None:
        raise ContentNotFound()
    if item.author_id != viewer.user_id:
        if await can_read(session, viewer=viewer, item=item, now=now) is Level.NONE:
            raise ContentNotFound()
        raise NotAuthor()
    row = await session.scalar(select(Media).where(Media.id == media_id).with_for_update())
    if row is None or row.owner_id != viewer.user_id:
        raise MediaNotFound()
    if row.status != "ready":
        raise MediaNotReady()
    if row.content_id not in (None, content_id):
        raise AlreadyAttached()
    if row.content_id is None:
        row.content_id = content_id
        row.updated_at = now
        await session.flush()
    return media_out(row)


# --- Processing (media worker) -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Job:
    """What a media worker needs to process one upload."""

    media_id: int
    owner_id: int
    kind: str
    storage_key: str


async def begin_processing(uow: UnitOfWork, *, media_id: int, now: datetime) -> Job | None:
    """Mark a media as processing; what to process, or None when there is nothing (left) to
    do (it is gone, ready or failed: a job that runs twice does nothing the second time)."""
    row = await uow.session.scalar(select(Media).where(Media.id == media_id).with_for_update())
    if row is None or row.status in ("ready", "failed"):
        return None
    row.status = "processing"
    row.updated_at = now
    await uow.session.flush()
    return Job(row.id, row.owner_id, row.kind, row.storage_key)


async def finish_processing(
    uow: UnitOfWork, *, media_id: int, result: Processed, now: datetime
) -> MediaOut | None:
    """Record the variants made and tell the owner the media is ready."""
    row = await uow.session.scalar(select(Media).where(Media.id == media_id).with_for_update())
    if row is None:
        return None
    row.status = "ready"
    row.variants = result.variants
    row.width = result.width if result.width is not None else row.width
    row.height = result.height if result.height is not None else row.height
    row.duration_ms = result.duration_ms if result.duration_ms is not None else row.duration_ms
    row.details = {**(row.details or {}), **result.details}
    row.error = None
    row.updated_at = now
    await uow.session.flush()
    out = media_out(row)
    uow.outbox.publish("media.ready", out.model_dump(mode="json"), user_id=row.owner_id)
    return out


async def fail_processing(
    uow: UnitOfWork, *, media_id: int, error: str, now: datetime
) -> MediaOut | None:
    """Mark a media failed with the reason and tell its owner."""
    row = await uow.session.scalar(select(Media).where(Media.id == media_id).with_for_update())
    if row is None:
        return None
    row.status = "failed"
    row.error = error[:255]
    row.updated_at = now
    await uow.session.flush()
    out = media_out(row)
    uow.outbox.publish("media.failed", out.model_dump(mode="json"), user_id=row.owner_id)
    return out
