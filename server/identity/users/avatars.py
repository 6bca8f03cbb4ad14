"""Avatars: an upload is checked by its content, then a job makes clean square sizes of it.

The upload is kept under a private key only until the job has re-encoded it: re-encoding from
decoded pixels drops EXIF (location, camera) and anything smuggled after or inside the image
data, so what is served is only ever an image this code wrote.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterable
from dataclasses import dataclass
from datetime import datetime

import structlog
from PIL import Image, ImageOps, features
from sqlalchemy import select, update

from models.identity.users import User
from server import uploads
from server.db import UnitOfWork
from server.http.errors import ApiError, BadRequest, PayloadTooLarge, UnsupportedMediaType
from server.storage import Storage, safe_key

log = structlog.get_logger(__name__)

# What the magic bytes may say, and the format Pillow must then agree on.
ACCEPTED = uploads.IMAGE_TYPES
SIZES = (256, 64)
OUTPUT_FORMAT, OUTPUT_SUFFIX = ("WEBP", "webp") if features.check("webp") else ("PNG", "png")


class AvatarTooLarge(PayloadTooLarge):
    code, message = "users.avatar_too_large", "The avatar file is too large."


class AvatarType(UnsupportedMediaType):
    code, message = "users.avatar_type", "An avatar must be a JPEG, PNG, WebP or GIF image."


class AvatarUnreadable(ApiError):
    status, code, message = 422, "users.avatar_unreadable", "The avatar image is damaged."


class AvatarDimensions(ApiError):
    status, code, message = 422, "users.avatar_dimensions", "The avatar image has too many pixels."


class NotMultipart(UnsupportedMediaType):
    message = "Send the avatar as multipart/form-data."


class BrokenMultipart(BadRequest):
    message = "The multipart body is malformed."


REFUSALS = uploads.Refusals(
    not_multipart=NotMultipart,
    broken_multipart=BrokenMultipart,
    no_file="Send the image as a multipart part named file.",
    too_large=AvatarTooLarge,
    unsupported=AvatarType,
    unreadable=AvatarUnreadable,
    too_many_pixels=AvatarDimensions,
)


@dataclass(frozen=True, slots=True)
class Thumbnails:
    """The stored sizes of one upload, by edge length."""

    keys: dict[int, str]


def upload_prefix(user_id: int) -> str:
    return f"uploads/avatars/{user_id}"


def public_prefix(user_id: int) -> str:
    return f"public/avatars/{user_id}"


def public_url(base_url: str, key: str) -> str:
    """Where clients load a public file: `<PUBLIC_BASE_URL>/files/<key>`."""
    return f"{base_url.rstrip('/')}/files/{key}"


def thumbnail_keys(user_id: int, upload_key: str) -> dict[int, str]:
    """The public keys of an upload's sizes: named after the upload, so a rerun rewrites them."""
    token = upload_key.rsplit("/", 1)[-1]
    return {size: f"{public_prefix(user_id)}/{token}-{size}.{OUTPUT_SUFFIX}" for size in SIZES}


def keys_of_url(base_url: str, user_id: int, url: str | None) -> list[str]:
    """The stored sizes behind an avatar URL this code made (none for outside URLs)."""
    prefix = public_url(base_url, public_prefix(user_id)) + "/"
    suffix = f"-{SIZES[0]}.{OUTPUT_SUFFIX}"
    if not url or not url.startswith(prefix) or not url.endswith(suffix):
        return []
    token = url[len(prefix) : -len(suffix)]
    keys = [f"{public_prefix(user_id)}/{token}-{size}.{OUTPUT_SUFFIX}" for size in SIZES]
    try:
        return [safe_key(key) for key in keys]
    except ValueError:
        return []


async def receive_avatar(
    storage: Storage, *, user_id: int, chunks: AsyncIterable[bytes], max_bytes: int, max_pixels: int
) -> str:
    """Store an upload and check it is an image we accept; its private key. Nothing is kept
    when it is refused. The size limit comes first: a file past it is too large whatever it is."""
    received = await uploads.receive(
        storage,
        chunks,
        prefix=upload_prefix(user_id),
        limit=max_bytes,
        types=ACCEPTED,
        confirm=uploads.image_confirmer(storage, max_pixels=max_pixels, refusals=REFUSALS),
        refusals=REFUSALS,
        sniff_before_storing=False,
    )
    return received.key


def render_sizes(data: bytes, max_pixels: int) -> dict[int, bytes]:
    """Square, re-encoded sizes of the image, from its pixels only (no metadata survives)."""
    clean = uploads.clean_pixels(
        uploads.open_image(data, max_pixels, REFUSALS),
        keep_alpha=True,
        broken=AvatarUnreadable,
        draft=(SIZES[0] * 2, SIZES[0] * 2),  # JPEG decodes at a reduced scale
    )
    out: dict[int, bytes] = {}
    for size in SIZES:
        square = ImageOps.fit(clean, (size, size), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        square.save(buffer, OUTPUT_FORMAT, **({"quality": 85} if OUTPUT_FORMAT == "WEBP" else {}))
        out[size] = buffer.getvalue()
    return out


async def store_sizes(
    storage: Storage, *, user_id: int, upload_key: str, max_pixels: int
) -> Thumbnails | None:
    """Re-encode an upload into its public sizes; None when the upload is gone (done before).
    An upload that cannot be decoded is deleted and AvatarUnreadable raised."""
    if not await storage.exists(upload_key):
        return None
    data = await storage.read(upload_key)
    try:
        rendered = await asyncio.to_thread(render_sizes, data, max_pixels)
    except (AvatarUnreadable, AvatarDimensions):
        log.warning("avatar.unreadable", user_id=user_id)
        await storage.delete(upload_key)
        raise
    keys = thumbnail_keys(user_id, upload_key)
    for size, key in keys.items():
        await storage.put(key, rendered[size])
    return Thumbnails(keys)


async def apply_avatar(
    uow: UnitOfWork, *, user_id: int, sizes: Thumbnails, base_url: str, now: datetime
) -> tuple[str | None, list[str]]:
    """Point the user's avatar at the new sizes and tell their devices: the avatar URL (None if
    the account is gone) and the keys now unused (the previous avatar's, or these)."""
    url = public_url(base_url, sizes.keys[SIZES[0]])
    row = (
        await uow.session.execute(
            select(User.avatar_url, User.nickname, User.status)
            .where(User.id == user_id)
            .with_for_update()
        )
    ).one_or_none()
    if row is None or row.status == "deleted":
        return None, list(sizes.keys.values())
    if row.avatar_url == url:
        return url, []
    await uow.session.execute(
        update(User).where(User.id == user_id).values(avatar_url=url, updated_at=now)
    )
    uow.outbox.publish(
        "user.updated",
        {"id": user_id, "nickname": row.nickname, "avatar_url": url},
        user_id=user_id,
    )
    return url, keys_of_url(base_url, user_id, row.avatar_url)


def report_failure(uow: UnitOfWork, *, user_id: int) -> None:
    """Tell the user's devices the upload could not be used, so they stop waiting."""
    uow.outbox.publish("user.avatar_failed", {"id": user_id}, user_id=user_id)


async def discard(storage: Storage, keys: list[str]) -> None:
    for key in keys:
        await storage.delete(key)
