"""What an upload really is: magic bytes first, then opening it (Pillow for images, ffprobe for
audio and video). Nothing a client says (file name, part content type) decides the type. The
steps every upload shares are `server.uploads`; this is what media add to them.

A file that does not open as what its first bytes claim is refused, which catches most
polyglots; those that do open (a JPEG with a script appended) are neutralised later, because
images are only ever served re-encoded from their pixels.
"""

from __future__ import annotations

import asyncio
import json
import re
import unicodedata
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from PIL import Image

from server import uploads
from server.http.errors import ApiError, BadRequest, PayloadTooLarge, UnsupportedMediaType
from server.storage import CHUNK, Storage
from server.uploads import FileType

# Per kind: magic-byte MIME type -> the stored extension and what the opener must agree it is.
IMAGE_TYPES = uploads.IMAGE_TYPES
AUDIO_TYPES = {
    "audio/mpeg": FileType("audio/mpeg", "mp3", ("mp3",)),
    "audio/mp4": FileType("audio/mp4", "m4a", ("mov", "mp4", "m4a")),
    "audio/aac": FileType("audio/aac", "aac", ("aac",)),
    "audio/ogg": FileType("audio/ogg", "ogg", ("ogg",)),
    "audio/x-flac": FileType("audio/x-flac", "flac", ("flac",)),
    "audio/x-wav": FileType("audio/x-wav", "wav", ("wav",)),
}
VIDEO_TYPES = {
    "video/mp4": FileType("video/mp4", "mp4", ("mov", "mp4")),
    "video/x-m4v": FileType("video/x-m4v", "m4v", ("mov", "mp4")),
    "video/quicktime": FileType("video/quicktime", "mov", ("mov",)),
    "video/webm": FileType("video/webm", "webm", ("webm", "matroska")),
    "video/x-matroska": FileType("video/x-matroska", "mkv", ("matroska",)),
}
TYPES = {"image": IMAGE_TYPES, "audio": AUDIO_TYPES, "video": VIDEO_TYPES}
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f<>:\"/\\|?*]")


class NotMultipart(UnsupportedMediaType):
    code, message = "media.not_multipart", "Send the file as multipart/form-data."


class BrokenMultipart(BadRequest):
    code, message = "media.broken_multipart", "The multipart body is malformed."


class MediaTooLarge(PayloadTooLarge):
    code, message = "media.too_large", "The file is larger than this kind of upload allows."


class UnsupportedType(UnsupportedMediaType):
    code = "media.unsupported_type"
    message = "The file is not an image, audio or video format accepted for this kind."


class TooManyPixels(ApiError):
    status, code, message = 422, "media.too_many_pixels", "The image has too many pixels."


class MediaBroken(Exception):
    """A file that cannot be decoded or transcoded (the job marks the media failed)."""


# A damaged image is refused as not what it claims (415), like a file no opener agrees with.
REFUSALS = uploads.Refusals(
    not_multipart=NotMultipart,
    broken_multipart=BrokenMultipart,
    no_file="Send the file as a multipart part named file.",
    too_large=MediaTooLarge,
    unsupported=UnsupportedType,
    unreadable=UnsupportedType,
    too_many_pixels=TooManyPixels,
)


@dataclass(frozen=True, slots=True)
class Inspected:
    """What checking an upload found."""

    content_type: str
    extension: str
    width: int | None = None
    height: int | None = None
    duration_ms: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


def display_name(name: str | None) -> str:
    """A client's file name fit for display only: percent escapes decoded, then the last path
    segment, without control or path characters or leading dots, at most 200 characters."""
    if not name:
        return ""
    name = unicodedata.normalize("NFKC", unquote(name)).replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE_NAME.sub("", name).strip().lstrip(".").strip()
    return name[:200]


def open_image(data: bytes, max_pixels: int) -> Image.Image:
    """Open without decoding, refusing bombs before a pixel is expanded."""
    return uploads.open_image(data, max_pixels, REFUSALS)


def check_image(data: bytes, *, formats: tuple[str, ...], max_pixels: int) -> tuple[int, int]:
    """The image's size if Pillow opens it as the format its magic bytes said."""
    return uploads.check_image(data, formats=formats, max_pixels=max_pixels, refusals=REFUSALS)


async def run_tool(args: list[str], *, time_limit: float) -> bytes:
    """Run ffprobe or ffmpeg; its standard output. MediaBroken when it fails or overruns."""
    try:
        process = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        raise MediaBroken(f"{Path(args[0]).name} cannot run") from exc
    try:
        out, err = await asyncio.wait_for(process.communicate(), time_limit)
    except TimeoutError as exc:
        with suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        raise MediaBroken(f"{Path(args[0]).name} took longer than {time_limit:g} s") from exc
    if process.returncode != 0:
        message = err.decode(errors="replace").strip().splitlines()
        raise MediaBroken(message[-1][:200] if message else "the file cannot be decoded")
    return out


async def probe(ffprobe: str, path: Path, *, time_limit: float) -> dict[str, Any]:
    """ffprobe's description of a local file (format and streams); MediaBroken if it cannot."""
    out = await run_tool(
        [
            ffprobe,
            "-v",
            "error",
            "-protocol_whitelist",
            "file",
            "-show_format",
            "-show_streams",
            "-of",
            "json",
            str(path),
        ],
        time_limit=time_limit,
    )
    try:
        data = json.loads(out)
    except ValueError as exc:
        raise MediaBroken("ffprobe answered nonsense") from exc
    if not isinstance(data, dict) or "format" not in data:
        raise MediaBroken("ffprobe found no format")
    return data


def streams_of(info: dict[str, Any], codec_type: str) -> list[dict[str, Any]]:
    return [
        stream
        for stream in info.get("streams", [])
        if stream.get("codec_type") == codec_type
        and not stream.get("disposition", {}).get("attached_pic")
    ]


def duration_ms(info: dict[str, Any]) -> int | None:
    try:
        return round(float(info["format"]["duration"]) * 1000)
    except (KeyError, TypeError, ValueError):
        return None


def check_av(kind: str, info: dict[str, Any], formats: tuple[str, ...]) -> Inspected | None:
    """None unless ffprobe agrees with the magic bytes and finds the streams the kind needs;
    otherwise the facts (without content type and extension, filled by the caller)."""
    names = set(str(info["format"].get("format_name", "")).split(","))
    if not names & set(formats):
        return None
    videos, audios = streams_of(info, "video"), streams_of(info, "audio")
    if (kind == "video" and not videos) or (kind == "audio" and (not audios or videos)):
        return None
    width = height = None
    if videos:
        width, height = videos[0].get("width"), videos[0].get("height")
    codecs = [stream.get("codec_name") for stream in (*videos, *audios)]
    return Inspected(
        content_type="",
        extension="",
        width=width,
        height=height,
        duration_ms=duration_ms(info),
        details={"codecs": [codec for codec in codecs if codec]},
    )


@asynccontextmanager
async def local_file(storage: Storage, key: str, suffix: str) -> AsyncIterator[Path]:
    """A local path to a stored file: the file itself on disk storage, else a temporary copy."""
    path = storage.path(key)
    if path is not None:
        yield path
        return
    import tempfile

    with tempfile.TemporaryDirectory(prefix="sharestack-media-") as folder:
        copy = Path(folder) / f"source.{suffix}"
        await asyncio.to_thread(copy.write_bytes, await storage.read(key))
        yield copy


async def file_chunks(path: Path) -> AsyncIterator[bytes]:
    """A local file as a stream of chunks, read off the event loop."""
    with path.open("rb") as handle:
        while chunk := await asyncio.to_thread(handle.read, CHUNK):
            yield chunk


async def inspect(
    storage: Storage,
    key: str,
    found: FileType,
    *,
    kind: str,
    max_pixels: int,
    ffprobe: str,
    time_limit: float,
) -> Inspected:
    """Check a stored upload of type `found` (by its magic bytes) is the kind it claims, by
    opening it (UnsupportedType, TooManyPixels if not)."""
    if kind == "image":
        confirm = uploads.image_confirmer(storage, max_pixels=max_pixels, refusals=REFUSALS)
        width, height = await confirm(key, found)
        return Inspected(found.mime, found.extension, width=width, height=height)
    async with local_file(storage, key, found.extension) as path:
        try:
            info = await probe(ffprobe, path, time_limit=time_limit)
        except MediaBroken as exc:
            raise UnsupportedType() from exc
    facts = check_av(kind, info, found.formats)
    if facts is None:
        raise UnsupportedType()
    return Inspected(
        found.mime,
        found.extension,
        width=facts.width,
        height=facts.height,
        duration_ms=facts.duration_ms,
        details=facts.details,
    )
