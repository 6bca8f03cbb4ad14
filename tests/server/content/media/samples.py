"""Tiny real media made on the spot: images with Pillow, audio and video with ffmpeg."""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.server.identity.users.images import (
    PHP,
    SECRET,
    SVG,
    image_bytes,
    jpeg_with_exif,
    png_claiming,
)

__all__ = [
    "PHP",
    "SECRET",
    "SVG",
    "audio_bytes",
    "image_bytes",
    "jpeg_with_exif",
    "png_claiming",
    "video_bytes",
]

HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>\n"


def ffmpeg(*args: str, suffix: str) -> bytes:
    assert shutil.which("ffmpeg"), "ffmpeg is needed (scripts/test installs it)"
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / f"out{suffix}"
        subprocess.run(
            ["ffmpeg", "-v", "error", "-nostdin", "-y", *args, str(out)], check=True, timeout=60
        )
        return out.read_bytes()


@functools.cache
def video_bytes() -> bytes:
    """Two seconds of a 160x120 test pattern at 10 fps with a 440 Hz tone, H.264/AAC MP4."""
    return ffmpeg(
        "-f", "lavfi", "-i", "testsrc=duration=2:size=160x120:rate=10",
        "-f", "lavfi", "-i", "sine=frequency=440:duration=2",
        "-shortest", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-metadata", f"comment={SECRET}",
        suffix=".mp4",
    )  # fmt: skip


@functools.cache
def audio_bytes() -> bytes:
    """One second of 440 Hz as MP3, with title and artist tags."""
    return ffmpeg(
        "-f", "lavfi", "-i", "sine=frequency=440:duration=1",
        "-metadata", "title=Sine Song", "-metadata", "artist=Test Band",
        suffix=".mp3",
    )  # fmt: skip
