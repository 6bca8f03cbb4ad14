"""Making the served variants of an upload: re-encoded image sizes, a video's poster, thumbnail
and small H.264/AAC rendition, an audio file's duration, tags and AAC rendition.

Variant keys are named after the upload's key, so running again rewrites the same files.
Images are re-encoded from their decoded pixels only: EXIF, ICC profiles, comments and
anything appended after the image data are gone from every variant.
"""

from __future__ import annotations

import asyncio
import io
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mutagen
from PIL import Image, features

from server import uploads
from server.content.media.checks import (
    MediaBroken,
    TooManyPixels,
    UnsupportedType,
    check_av,
    file_chunks,
    local_file,
    open_image,
    probe,
    run_tool,
)
from server.settings import Settings
from server.storage import Storage

IMAGE_FORMAT, IMAGE_SUFFIX = ("WEBP", "webp") if features.check("webp") else ("JPEG", "jpg")
IMAGE_WIDTHS = {"thumb": 320, "large": 1280}
RENDITION_HEIGHT = 480
AUDIO_TAGS = ("title", "artist", "album", "genre", "date", "tracknumber")

Progress = Callable[[int, int, str], Awaitable[None]]


@dataclass(slots=True)
class Processed:
    """What processing made: variant name -> storage key, and the facts learned."""

    variants: dict[str, str] = field(default_factory=dict)
    width: int | None = None
    height: int | None = None
    duration_ms: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


def variant_key(storage_key: str, name: str, suffix: str) -> str:
    """`media/7/ab12.mp4` -> `media/7/ab12-poster.jpg`."""
    stem = storage_key.rsplit(".", 1)[0]
    return f"{stem}-{name}.{suffix}"


def _broken() -> MediaBroken:
    return MediaBroken("the image cannot be decoded")


def _encode(image: Image.Image, width: int) -> bytes:
    if image.width > width:
        height = max(1, round(image.height * width / image.width))
        image = image.resize((width, height), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, IMAGE_FORMAT, quality=82)
    return buffer.getvalue()


def render_image(data: bytes, max_pixels: int) -> tuple[tuple[int, int], dict[str, bytes]]:
    """The upright size and the re-encoded widths of an image."""
    try:
        image = open_image(data, max_pixels)
    except (TooManyPixels, UnsupportedType) as exc:
        raise _broken() from exc
    clean = uploads.clean_pixels(image, keep_alpha=IMAGE_FORMAT == "WEBP", broken=_broken)
    return clean.size, {name: _encode(clean, width) for name, width in IMAGE_WIDTHS.items()}


async def _store_file(storage: Storage, key: str, path: Path) -> None:
    await storage.write(key, file_chunks(path))


async def process_image(
    storage: Storage, settings: Settings, *, key: str, progress: Progress
) -> Processed:
    data = await storage.read(key)
    await progress(1, 3, "decoding")
    (width, height), rendered = await asyncio.to_thread(
        render_image, data, settings.media_max_pixels
    )
    await progress(2, 3, "storing sizes")
    variants: dict[str, str] = {}
    for name, encoded in rendered.items():
        variants[name] = variant_key(key, name, IMAGE_SUFFIX)
        await storage.put(variants[name], encoded)
    return Processed(variants=variants, width=width, height=height)


def _ffmpeg(settings: Settings, source: Path, *outputs: str, start: float = 0.0) -> list[str]:
    """An ffmpeg command reading only the local file `source` from `start` seconds."""
    return [
        settings.ffmpeg_path,
        "-v",
        "error",
        "-nostdin",
        "-y",
        "-protocol_whitelist",
        "file",
        "-ss",
        f"{start:.3f}",
        "-i",
        str(source),
        *outputs,
    ]


async def process_video(
    storage: Storage, settings: Settings, *, key: str, extension: str, progress: Progress
) -> Processed:
    limit = settings.media_transcode_timeout_seconds
    async with local_file(storage, key, extension) as source:
        info = await probe(
            settings.ffprobe_path, source, time_limit=settings.media_probe_timeout_seconds
        )
        facts = check_av("video", info, ("mov", "mp4", "webm", "matroska"))
        if facts is None:
            raise MediaBroken("no video stream")
        await progress(1, 4, "poster")
        seconds = min(1.0, (facts.duration_ms or 0) / 2000)
        with tempfile.TemporaryDirectory(prefix="sharestack-video-") as folder:
            poster, rendition = Path(folder) / "poster.jpg", Path(folder) / "rendition.mp4"
            await run_tool(
                _ffmpeg(settings, source, "-frames:v", "1", str(poster), start=seconds),
                time_limit=limit,
            )
            await progress(2, 4, "transcoding")
            await run_tool(
                _ffmpeg(
                    settings,
                    source,
                    "-map",
                    "0:v:0",
                    "-map",
                    "0:a:0?",
                    "-map_metadata",
                    "-1",
                    "-vf",
                    f"scale=-2:'min({RENDITION_HEIGHT},ih)'",
                    "-c:v",
                    "libx264",
                    "-preset",
                    "veryfast",
                    "-crf",
                    "28",
                    "-pix_fmt",
                    "yuv420p",
                    "-c:a",
                    "aac",
                    "-b:a",
                    "96k",
                    "-movflags",
                    "+faststart",
                    str(rendition),
                ),
                time_limit=limit,
            )
            await progress(3, 4, "storing")
            poster_data = await asyncio.to_thread(poster.read_bytes)
            _size, thumbs = await asyncio.to_thread(
                render_image, poster_data, settings.media_max_pixels
            )
            variants = {
                "poster": variant_key(key, "poster", "jpg"),
                "thumb": variant_key(key, "thumb", IMAGE_SUFFIX),
                "rendition": variant_key(key, "480p", "mp4"),
            }
            await storage.put(variants["poster"], poster_data)
            await storage.put(variants["thumb"], thumbs["thumb"])
            await _store_file(storage, variants["rendition"], rendition)
    return Processed(
        variants=variants,
        width=facts.width,
        height=facts.height,
        duration_ms=facts.duration_ms,
        details=facts.details,
    )


def read_tags(path: Path) -> dict[str, str]:
    """Title, artist and the like from an audio file's tags (mutagen); {} when it has none."""
    try:
        audio = mutagen.File(path, easy=True)
    except Exception:  # mutagen raises its own error kinds for odd files; tags are optional
        return {}
    if audio is None or not audio.tags:
        return {}
    tags: dict[str, str] = {}
    for name in AUDIO_TAGS:
        values = audio.tags.get(name) if hasattr(audio.tags, "get") else None
        if values:
            tags[name] = str(values[0])[:200]
    return tags


async def process_audio(
    storage: Storage, settings: Settings, *, key: str, extension: str, progress: Progress
) -> Processed:
    async with local_file(storage, key, extension) as source:
        info = await probe(
            settings.ffprobe_path, source, time_limit=settings.media_probe_timeout_seconds
        )
        facts = check_av("audio", info, ("mp3", "mov", "mp4", "m4a", "aac", "ogg", "flac", "wav"))
        if facts is None:
            raise MediaBroken("no audio stream")
        await progress(1, 3, "tags")
        tags = await asyncio.to_thread(read_tags, source)
        await progress(2, 3, "transcoding")
        with tempfile.TemporaryDirectory(prefix="sharestack-audio-") as folder:
            rendition = Path(folder) / "rendition.m4a"
            await run_tool(
                _ffmpeg(
                    settings,
                    source,
                    "-vn",
                    "-map_metadata",
                    "-1",
                    "-c:a",
                    "aac",
                    "-b:a",
                    "128k",
                    "-movflags",
                    "+faststart",
                    str(rendition),
                ),
                time_limit=settings.media_transcode_timeout_seconds,
            )
            variants = {"rendition": variant_key(key, "aac", "m4a")}
            await _store_file(storage, variants["rendition"], rendition)
    return Processed(
        variants=variants, duration_ms=facts.duration_ms, details={**facts.details, "tags": tags}
    )


async def process(
    storage: Storage,
    settings: Settings,
    *,
    kind: str,
    key: str,
    progress: Progress,
) -> Processed:
    """Make every variant of one upload; MediaBroken when it cannot be decoded."""
    extension = key.rsplit(".", 1)[-1]
    if not await storage.exists(key):
        raise MediaBroken("the upload is gone")
    if kind == "image":
        return await process_image(storage, settings, key=key, progress=progress)
    if kind == "video":
        return await process_video(
            storage, settings, key=key, extension=extension, progress=progress
        )
    return await process_audio(storage, settings, key=key, extension=extension, progress=progress)
