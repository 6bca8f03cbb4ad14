"""One way in for a client's file: media and avatars alike.

An upload is received as the `file` part of a multipart body, refused past its size limit (by
the declared length before reading, then by the bytes stored), typed by its magic bytes and never
by its name, stored under a fresh unguessable key, confirmed by opening it (Pillow here, ffprobe
for audio and video), and handed over to be recorded and processed in a worker. Nothing is kept
when any step refuses it.

What differs between kinds of upload is a parameter: the errors it answers with (each keeps its
codes, see `Refusals`), its limit, the types it accepts and how they are confirmed, where it is
stored, and whether its type is known before it is stored. Images are only ever served
re-encoded from their pixels (`clean_pixels`), which drops metadata and anything smuggled in.
"""

from __future__ import annotations

import asyncio
import io
import warnings
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

import filetype
from aiohttp import BodyPartReader, MultipartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from PIL import Image, ImageOps, UnidentifiedImageError

from server.http.errors import ApiError, ValidationFailed
from server.storage import CHUNK, Storage, TooLarge, new_key

# Multipart framing (boundaries, part headers, small fields) allowed on top of the size limit
# before the Content-Length alone gets a request refused.
MULTIPART_OVERHEAD = 64 * 1024
# What filetype reads to decide a type.
SNIFF_BYTES = 262
# What aiohttp raises for a malformed multipart body or part.
_MALFORMED = (ValueError, AssertionError, RuntimeError, HttpProcessingError)


@dataclass(frozen=True, slots=True)
class Refusals:
    """The errors one kind of upload answers with, so that each keeps its own codes."""

    not_multipart: type[ApiError]
    broken_multipart: type[ApiError]
    no_file: str  # the `file` field's message when no file part came
    too_large: type[ApiError]
    unsupported: type[ApiError]  # not a type this kind accepts, or not what its bytes claim
    unreadable: type[ApiError]  # opens as its type but is damaged
    too_many_pixels: type[ApiError]


@dataclass(frozen=True, slots=True)
class FileType:
    """An accepted type: the MIME type the magic bytes say, the extension it is stored with, and
    the formats the opener (Pillow, ffprobe) must agree it is."""

    mime: str
    extension: str
    formats: tuple[str, ...]


# The images every kind of upload accepts. (MPO is how Pillow names the multi-picture JPEGs many
# phone cameras write.) SVG never: it carries scripts.
IMAGE_TYPES = {
    "image/jpeg": FileType("image/jpeg", "jpg", ("JPEG", "MPO")),
    "image/png": FileType("image/png", "png", ("PNG",)),
    "image/webp": FileType("image/webp", "webp", ("WEBP",)),
    "image/gif": FileType("image/gif", "gif", ("GIF",)),
}


@dataclass(frozen=True, slots=True)
class Received[T]:
    """A stored, confirmed upload: its key, size, type and what confirming it found."""

    key: str
    size: int
    type: FileType
    found: T


# --- Receiving the file part ------------------------------------------------------------------


def refuse_declared_length(request: web.Request, *, limit: int, refusals: Refusals) -> None:
    """Refuse a body whose Content-Length alone says its file is past `limit`, before reading."""
    length = request.content_length
    if length is not None and length > limit + MULTIPART_OVERHEAD:
        raise refusals.too_large()


async def skip(part: BodyPartReader | MultipartReader) -> None:
    await part.release()


async def file_part(
    request: web.Request,
    *,
    refusals: Refusals,
    max_parts: int,
    other: Callable[[BodyPartReader | MultipartReader], Awaitable[None]] = skip,
) -> BodyPartReader:
    """The `file` part of a multipart/form-data body among its first `max_parts` parts; the
    parts before it go to `other` (skipped unless a kind reads its fields from them)."""
    if request.content_type != "multipart/form-data":
        raise refusals.not_multipart()
    try:
        reader = await request.multipart()
        for _ in range(max_parts):
            part = await reader.next()
            if part is None:
                break
            if isinstance(part, BodyPartReader) and part.name == "file":
                return part
            await other(part)
    except _MALFORMED as exc:
        raise refusals.broken_multipart() from exc
    raise ValidationFailed(fields={"file": refusals.no_file})


async def chunks_of(part: BodyPartReader, refusals: Refusals) -> AsyncIterator[bytes]:
    """A file part's body as it arrives."""
    try:
        while chunk := await part.read_chunk(CHUNK):
            yield chunk
    except _MALFORMED as exc:
        raise refusals.broken_multipart() from exc


# --- Typing, storing and confirming -----------------------------------------------------------


async def peek(chunks: AsyncIterable[bytes], size: int) -> tuple[bytes, AsyncIterator[bytes]]:
    """The first `size` bytes of a stream (fewer if it is shorter), and the whole stream."""
    iterator = aiter(chunks)
    head = b""
    while len(head) < size:
        try:
            head += await anext(iterator)
        except StopAsyncIteration:
            break

    async def whole() -> AsyncIterator[bytes]:
        if head:
            yield head
        async for chunk in iterator:
            yield chunk

    return head, whole()


def sniff(head: bytes, types: Mapping[str, FileType], refusals: Refusals) -> FileType:
    """The accepted type the first bytes say; `refusals.unsupported` when they say none."""
    guess = filetype.guess(head[:SNIFF_BYTES]) if head else None
    found = types.get(guess.mime) if guess is not None else None
    if found is None:
        raise refusals.unsupported()
    return found


async def receive[T](
    storage: Storage,
    chunks: AsyncIterable[bytes],
    *,
    prefix: str,
    limit: int,
    types: Mapping[str, FileType],
    confirm: Callable[[str, FileType], Awaitable[T]],
    refusals: Refusals,
    sniff_before_storing: bool = True,
) -> Received[T]:
    """Store an upload under a fresh key below `prefix` and confirm it is one of `types`.

    With `sniff_before_storing` a type not accepted is refused before anything is written and
    the key carries the type's extension; without it the limit is checked first (a file past it
    is too large whatever it is) and the key has no extension. Nothing is kept when refused."""
    head, stream = await peek(chunks, SNIFF_BYTES)
    sniffed = sniff(head, types, refusals) if sniff_before_storing else None
    key = new_key(prefix, f".{sniffed.extension}" if sniffed is not None else "")
    try:
        size = await storage.write(key, stream, limit=limit)
    except TooLarge as exc:
        raise refusals.too_large() from exc
    try:
        found_type = sniffed or sniff(head, types, refusals)
        found = await confirm(key, found_type)
    except BaseException:
        await storage.delete(key)
        raise
    return Received(key, size, found_type, found)


@asynccontextmanager
async def handing_over(storage: Storage, key: str) -> AsyncIterator[None]:
    """Around recording a received upload for processing: if that fails, the file goes too."""
    try:
        yield
    except BaseException:
        await storage.delete(key)
        raise


# --- Images -----------------------------------------------------------------------------------


def open_image(data: bytes, max_pixels: int, refusals: Refusals) -> Image.Image:
    """Open without decoding, refusing bombs before any pixel is expanded."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
            raise refusals.too_many_pixels() from exc
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            raise refusals.unreadable() from exc
    width, height = image.size
    if width < 1 or height < 1 or width * height > max_pixels:
        raise refusals.too_many_pixels()
    return image


def check_image(
    data: bytes, *, formats: tuple[str, ...], max_pixels: int, refusals: Refusals
) -> tuple[int, int]:
    """The image's size if Pillow opens it as one of `formats` (what its magic bytes said)."""
    image = open_image(data, max_pixels, refusals)
    if image.format not in formats:
        raise refusals.unsupported()
    size = image.size
    try:
        image.verify()
    except Exception as exc:  # Pillow raises many kinds for damaged files
        raise refusals.unreadable() from exc
    return size


def image_confirmer(
    storage: Storage, *, max_pixels: int, refusals: Refusals
) -> Callable[[str, FileType], Awaitable[tuple[int, int]]]:
    """The `confirm` step of an image upload: it opens as what it claims; its size."""

    async def confirm(key: str, found: FileType) -> tuple[int, int]:
        data = await storage.read(key)
        return await asyncio.to_thread(
            check_image, data, formats=found.formats, max_pixels=max_pixels, refusals=refusals
        )

    return confirm


def clean_pixels(
    image: Image.Image,
    *,
    keep_alpha: bool,
    broken: Callable[[], Exception],
    draft: tuple[int, int] | None = None,
) -> Image.Image:
    """The first frame's pixels, upright, in a new image that carries no metadata; `broken()`
    is raised when they cannot be decoded. `draft` lets a JPEG decode at a reduced scale."""
    try:
        image.seek(0)  # the first frame of an animation
        if draft is not None:
            image.draft("RGB", draft)
        image.load()
        image = ImageOps.exif_transpose(image) or image
        has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
        mode = "RGBA" if has_alpha and keep_alpha else "RGB"
        pixels = image.convert(mode)
        return Image.frombytes(mode, pixels.size, pixels.tobytes())
    except Exception as exc:  # truncated or inconsistent data surfaces only when decoding
        raise broken() from exc
