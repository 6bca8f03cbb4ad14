"""Images made on the spot for the avatar tests: ordinary ones, ones with secrets, and attacks."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image

SECRET = "GPS 39.9042N 116.4074E home"


def image_bytes(
    fmt: str, size: tuple[int, int] = (320, 200), mode: str = "RGB", **options
) -> bytes:
    image = Image.new(mode, size, (200, 40, 40, 255)[: len(mode)] if mode != "P" else 1)
    # A second colour in one corner, so a crop or a rotation is visible.
    image.paste(
        (10, 10, 200, 255)[: len(mode)] if mode != "P" else 2, (0, 0, size[0] // 4, size[1] // 4)
    )
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def jpeg_with_exif() -> bytes:
    """A JPEG whose EXIF names a place and a camera, rotated by its Orientation tag."""
    exif = Image.Exif()
    exif[0x010E] = SECRET  # ImageDescription
    exif[0x010F] = "SecretCam"  # Make
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    return image_bytes("JPEG", (400, 300), exif=exif.tobytes(), comment=SECRET.encode())


def animated_gif() -> bytes:
    frames = [Image.new("P", (120, 120), colour) for colour in (1, 2, 3)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100)
    return buffer.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims `width` x `height` pixels: a decompression bomb."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", pixels)
        + _chunk(b"IEND", b"")
    )


PHP = b"<?php system($_GET['cmd']); ?>\n"
SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b"<script>alert(document.cookie)</script></svg>"
)
