"""What an upload really is: magic bytes first, then opening it (Pillow for images, ffprobe for
audio and video). Nothing a client says (file name, part content type) decides the type.

A file that does not open as what its first bytes claim is refused, which catches most
polyglots; those that do open (a JPEG with a script appended) are neutralised later, because
images are only ever served re-encoded from their pixels.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import unicodedata
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import filetype
from PIL import Image, UnidentifiedImageError

from server.http.errors import ApiError, PayloadTooLarge, UnsupportedMediaType
from server.storage import CHUNK, Storage

SNIFF_BYTES = 262
# Per kind: magic-byte MIME type -> (stored extension, what the opener must agree it is).
IMAGE_TYPES = {
    "image/jpeg": ("jpg", ("JPEG", "MPO")),
    "image/png": ("png", ("PNG",)),
    "image/webp": ("webp", ("WEBP",)),
    "image/gif": ("gif", ("GIF",)),
}
AUDIO_TYPES = {
    "audio/mpeg": ("mp3", ("mp3",)),
    "audio/mp4": ("m4a", ("mov", "mp4", "m4a")),
    "audio/aac": ("aac", ("aac",)),
    "audio/ogg": ("ogg", ("ogg",)),
    "audio/x-flac": ("flac", ("flac",)),
    "audio/x-wav": ("wav", ("wav",)),
}
VIDEO_TYPES = {
    "video/mp4": ("mp4", ("mov", "mp4")),
    "video/x-m4v": ("m4v", ("mov", "mp4")),
    "video/quicktime": ("mov", ("mov",)),
    "video/webm": ("webm", ("webm", "matroska")),
    "video/x-matroska": ("mkv", ("matroska",)),
}
TYPES = {"image": IMAGE_TYPES, "audio": AUDIO_TYPES, "video": VIDEO_TYPES}
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f<>:\"/\\|?*]")


class MediaTooLarge(PayloadTooLarge):
    code, message = "media.too_large", "The file is larger than this kind of upload allows."


class UnsupportedType(UnsupportedMediaType):
    code = "media.unsupported_type"
    message = "The file is not an image, audio or video format accepted for this kind."


class TooManyPixels(ApiError):
    status, code, message = 422, "media.too_many_pixels", "The image has too many pixels."


class MediaBroken(Exception):
    """A file that cannot be decoded or transcoded (the job marks the media failed)."""


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


def sniff(kind: str, head: bytes) -> tuple[str, str, tuple[str, ...]]:
    """The MIME type, extension and acceptable opener formats the first bytes say, if they are
    one this kind accepts; else UnsupportedType."""
    guess = filetype.guess(head[:SNIFF_BYTES]) if head else None
    accepted = TYPES[kind].get(guess.mime) if guess is not None else None
    if guess is None or accepted is None:
        raise UnsupportedType()
    return guess.mime, accepted[0], accepted[1]


def open_image(data: bytes, max_pixels: int) -> Image.Image:
    """Open without decoding, refusing bombs before a pixel is expanded."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
            raise TooManyPixels() from exc
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            raise UnsupportedType() from exc
    width, height = image.size
    if width < 1 or height < 1 or width * height > max_pixels:
        raise TooManyPixels()
    return image


def check_image(data: bytes, *, formats: tuple[str, ...], max_pixels: int) -> tuple[int, int]:
    """The image's size if Pillow opens it as the format its magic bytes said."""
    image = open_image(data, max_pixels)
    if image.format not in formats:
        raise UnsupportedType()
    size = image.size
    try:
        image.verify()
    except Exception as exc:  # Pillow raises many kinds for damaged files
        raise UnsupportedType() from exc
    return size


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
    *,
    kind: str,
    head: bytes,
    max_pixels: int,
    ffprobe: str,
    time_limit: float,
) -> Inspected:
    """Check a stored upload is the kind it claims (UnsupportedType, TooManyPixels if not)."""
    mime, extension, formats = sniff(kind, head)
    if kind == "image":
        data = await storage.read(key)
        width, height = await asyncio.to_thread(
            check_image, data, formats=formats, max_pixels=max_pixels
        )
        return Inspected(mime, extension, width=width, height=height)
    async with local_file(storage, key, extension) as path:
        try:
            info = await probe(ffprobe, path, time_limit=time_limit)
        except MediaBroken as exc:
            raise UnsupportedType() from exc
    found = check_av(kind, info, formats)
    if found is None:
        raise UnsupportedType()
    return Inspected(
        mime,
        extension,
        width=found.width,
        height=found.height,
        duration_ms=found.duration_ms,
        details=found.details,
    )
