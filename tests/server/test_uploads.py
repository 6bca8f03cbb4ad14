"""The one upload pipeline: each kind keeps its own errors, limit, types and order of checks,
and nothing is kept when any step refuses a file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from server import uploads
from server.http.errors import ApiError
from server.storage import LocalStorage
from tests.server.identity.users.images import PHP, image_bytes, png_claiming


class Refused(ApiError):
    status = 499


class NotMultipart(Refused):
    code = "t.not_multipart"


class Broken(Refused):
    code = "t.broken"


class Large(Refused):
    code = "t.too_large"


class Unsupported(Refused):
    code = "t.unsupported"


class Unreadable(Refused):
    code = "t.unreadable"


class Pixels(Refused):
    code = "t.pixels"


REFUSALS = uploads.Refusals(
    not_multipart=NotMultipart,
    broken_multipart=Broken,
    no_file="Send a file.",
    too_large=Large,
    unsupported=Unsupported,
    unreadable=Unreadable,
    too_many_pixels=Pixels,
)


async def chunks(data: bytes, size: int = 100) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def stored(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()]


async def receive(
    storage: LocalStorage, data: bytes, *, limit: int = 10**6, sniff_first: bool = True
) -> uploads.Received[tuple[int, int]]:
    return await uploads.receive(
        storage,
        chunks(data),
        prefix="up/1",
        limit=limit,
        types=uploads.IMAGE_TYPES,
        confirm=uploads.image_confirmer(storage, max_pixels=10**6, refusals=REFUSALS),
        refusals=REFUSALS,
        sniff_before_storing=sniff_first,
    )


@pytest.mark.parametrize("sniff_first", [True, False])
async def test_an_accepted_image_is_stored_whole_and_confirmed(
    tmp_path: Path, sniff_first: bool
) -> None:
    storage, data = LocalStorage(tmp_path), image_bytes("PNG", (40, 30))
    received = await receive(storage, data, sniff_first=sniff_first)
    assert await storage.read(received.key) == data
    assert (received.size, received.type.mime, received.found) == (len(data), "image/png", (40, 30))
    assert received.key.startswith("up/1/")
    assert received.key.endswith(".png") == sniff_first  # the type names the key only if known


@pytest.mark.parametrize("sniff_first", [True, False])
@pytest.mark.parametrize(
    ("data", "refused"),
    [
        (PHP * 10, Unsupported),  # magic bytes of no accepted type
        (b"\x89PNG\r\n\x1a\n" + PHP, Unreadable),  # PNG magic, no PNG behind it
        (png_claiming(5000, 5000), Pixels),  # a bomb, refused before decoding
        (b"", Unsupported),
    ],
)
async def test_a_refused_file_leaves_nothing_behind(
    tmp_path: Path, sniff_first: bool, data: bytes, refused: type[ApiError]
) -> None:
    storage = LocalStorage(tmp_path)
    with pytest.raises(refused):
        await receive(storage, data, sniff_first=sniff_first)
    assert stored(tmp_path) == []


async def test_the_order_of_checks_decides_what_an_oversized_stranger_is(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    with pytest.raises(Unsupported):  # typed first: refused before a byte is stored
        await receive(storage, b"\0" * 5000, limit=1000, sniff_first=True)
    with pytest.raises(Large):  # limit first: too large whatever it is
        await receive(storage, b"\0" * 5000, limit=1000, sniff_first=False)
    with pytest.raises(Large):
        await receive(storage, image_bytes("PNG") + b"\0" * 5000, limit=1000)
    assert stored(tmp_path) == []


async def test_a_failed_hand_over_deletes_the_upload(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    received = await receive(storage, image_bytes("PNG"))
    with pytest.raises(RuntimeError):
        async with uploads.handing_over(storage, received.key):
            raise RuntimeError("the database went away")
    assert not await storage.exists(received.key)
    kept = await receive(storage, image_bytes("PNG"))
    async with uploads.handing_over(storage, kept.key):
        pass
    assert await storage.exists(kept.key)


def test_clean_pixels_keep_no_metadata_and_say_when_they_cannot_decode() -> None:
    data = image_bytes("PNG", (20, 10), mode="RGBA")
    image = uploads.open_image(data, 10**6, REFUSALS)
    clean = uploads.clean_pixels(image, keep_alpha=False, broken=Unreadable)
    assert (clean.size, clean.mode, clean.info) == ((20, 10), "RGB", {})
    again = uploads.open_image(data, 10**6, REFUSALS)
    assert uploads.clean_pixels(again, keep_alpha=True, broken=Unreadable).mode == "RGBA"
    truncated = uploads.open_image(data[: len(data) // 2], 10**6, REFUSALS)
    with pytest.raises(Unreadable):
        uploads.clean_pixels(truncated, keep_alpha=True, broken=Unreadable)
