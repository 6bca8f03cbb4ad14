"""POST /api/v1/me/avatar: uploads are checked by their content before anything is queued."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData

from jobs.sinks import arq_job_id, queue_names
from server.identity.users import avatars
from server.keys import RUNTIME
from tests.helpers.env import make_settings
from tests.helpers.profiles import Person, json_of, sign_up
from tests.server.identity.users.images import (
    PHP,
    SVG,
    animated_gif,
    image_bytes,
    jpeg_with_exif,
    png_claiming,
)

AVATAR = "/api/v1/me/avatar"


def form(data: bytes, *, name: str = "file", filename: str = "me.jpg", kind: str = "image/jpeg"):
    body = FormData()
    body.add_field(name, data, filename=filename, content_type=kind)
    return body


def uploads_of(client: Any, person: Person) -> list[Path]:
    folder = client.app[RUNTIME].storage.root / "uploads" / "avatars" / str(person.id)
    return sorted(folder.iterdir()) if folder.exists() else []


async def media_jobs(redis: Any, settings: Any) -> list[str]:
    return [j.decode() for j in await redis.zrange(queue_names(settings)["media"], 0, -1)]


async def upload(client: Any, person: Person, body: Any, status: int, **kwargs: Any) -> Any:
    response = await client.post(AVATAR, data=body, headers=person.headers, **kwargs)
    return await json_of(response, status)


@pytest.fixture
async def ann(api) -> Person:
    return await sign_up(api, "Ann")


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (jpeg_with_exif(), "image/jpeg"),
        (image_bytes("PNG", mode="RGBA"), "image/png"),
        (image_bytes("WEBP"), "image/webp"),
        (animated_gif(), "image/gif"),
        (jpeg_with_exif() + PHP, "image/jpeg"),  # a polyglot: re-encoding drops the payload
    ],
)
async def test_an_accepted_image_is_stored_privately_and_queued(
    api, ann, auth_settings, redis, data, kind
) -> None:
    assert await upload(api, ann, form(data, kind=kind), 202) == {"status": "processing"}
    [stored] = uploads_of(api, ann)
    assert stored.read_bytes() == data
    assert await media_jobs(redis, auth_settings) == [
        arq_job_id(auth_settings, f"avatar:uploads/avatars/{ann.id}/{stored.name}")
    ]


async def test_the_file_name_and_declared_type_do_not_matter(api, ann) -> None:
    png = image_bytes("PNG")
    await upload(api, ann, form(png, filename="x.exe", kind="application/octet-stream"), 202)


@pytest.mark.parametrize(
    ("data", "filename", "kind"),
    [
        (PHP, "shell.jpg", "image/jpeg"),
        (PHP, "shell.php", "application/x-php"),
        (SVG, "logo.svg", "image/svg+xml"),
        (b"<html><script>alert(1)</script></html>", "me.png", "image/png"),
        (image_bytes("BMP"), "me.bmp", "image/bmp"),
        (image_bytes("TIFF"), "me.tiff", "image/tiff"),
        (b"%PDF-1.4\n" + b"0" * 100, "me.jpg", "image/jpeg"),
        (b"", "empty.jpg", "image/jpeg"),
    ],
)
async def test_what_is_not_a_jpeg_png_webp_or_gif_is_415(
    api, ann, auth_settings, redis, data, filename, kind
) -> None:
    body = await upload(api, ann, form(data, filename=filename, kind=kind), 415)
    assert body["error"]["code"] == "users.avatar_type"
    assert uploads_of(api, ann) == []
    assert await media_jobs(redis, auth_settings) == []


async def test_magic_bytes_with_no_image_behind_them_are_422(api, ann) -> None:
    body = await upload(api, ann, form(b"GIF89a" + PHP, filename="x.gif", kind="image/gif"), 422)
    assert body["error"]["code"] == "users.avatar_unreadable"
    assert uploads_of(api, ann) == []


@pytest.mark.parametrize("offset", [40, -20])
async def test_a_png_whose_chunks_are_corrupt_is_422(api, ann, offset) -> None:
    png = bytearray(image_bytes("PNG"))
    png[offset] ^= 0xFF  # a header chunk, or the pixel data: a chunk's CRC no longer matches
    body = await upload(api, ann, form(bytes(png), kind="image/png"), 422)
    assert body["error"]["code"] == "users.avatar_unreadable"
    assert uploads_of(api, ann) == []


@pytest.mark.parametrize(
    "url",
    [
        None,
        "https://cdn.example.com/a.png",
        "http://127.0.0.1:8080/files/public/avatars/2/abc-256.webp",  # another user's folder
        "http://127.0.0.1:8080/files/public/avatars/1/../../x-256.webp",
        "http://127.0.0.1:8080/files/public/avatars/1/abc-64.webp",
    ],
)
def test_only_our_own_avatar_urls_name_files_to_delete(url) -> None:
    assert avatars.keys_of_url("http://127.0.0.1:8080", 1, url) == []


def test_our_avatar_url_names_both_sizes() -> None:
    url = "http://127.0.0.1:8080/files/public/avatars/1/abc-256.webp"
    assert avatars.keys_of_url("http://127.0.0.1:8080/", 1, url) == [
        "public/avatars/1/abc-256.webp",
        "public/avatars/1/abc-64.webp",
    ]


@pytest.mark.parametrize("size", [(100_000, 100_000), (8_000, 8_000)])
async def test_a_decompression_bomb_is_422_before_any_pixel_is_decoded(api, ann, size) -> None:
    bomb = png_claiming(*size)
    assert len(bomb) < 200
    body = await upload(api, ann, form(bomb, kind="image/png"), 422)
    assert body["error"]["code"] == "users.avatar_dimensions"
    assert uploads_of(api, ann) == []


@pytest.fixture
async def small_limit(make_client, database_url):
    settings = make_settings(database_url=database_url, avatar_max_bytes=20_000)
    return await make_client(settings)


async def test_an_upload_past_the_size_limit_is_413_and_nothing_is_kept(small_limit) -> None:
    ann = await sign_up(small_limit, "Ann")
    big = jpeg_with_exif() + b"\0" * 30_000
    body = await upload(small_limit, ann, form(big), 413)
    assert body["error"]["code"] == "users.avatar_too_large"
    assert uploads_of(small_limit, ann) == []


async def test_a_huge_declared_length_is_413_before_reading(small_limit) -> None:
    ann = await sign_up(small_limit, "Ann")
    body = await upload(small_limit, ann, form(b"\0" * 200_000), 413)
    assert body["error"]["code"] == "users.avatar_too_large"


async def test_a_streamed_upload_without_length_is_cut_at_the_limit(small_limit) -> None:
    ann = await sign_up(small_limit, "Ann")
    boundary = "xyzzy"

    async def chunks():
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        for _ in range(8):
            yield b"\0" * 4096
        yield f"\r\n--{boundary}--\r\n".encode()

    headers = {**ann.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    response = await small_limit.post(AVATAR, data=chunks(), headers=headers)
    assert response.status == 413
    assert uploads_of(small_limit, ann) == []


async def test_other_parts_before_the_file_are_skipped(api, ann) -> None:
    body = FormData()
    body.add_field("note", "hello")
    body.add_field("file", image_bytes("PNG"), filename="a.png", content_type="image/png")
    await upload(api, ann, body, 202)


async def test_a_body_without_a_file_part_is_422(api, ann) -> None:
    body = await upload(api, ann, form(image_bytes("PNG"), name="picture"), 422)
    assert body["error"]["code"] == "request.validation"
    assert "file" in body["error"]["fields"]


async def test_a_body_that_is_not_multipart_is_415(api, ann) -> None:
    response = await api.post(AVATAR, json={"file": "x"}, headers=ann.headers)
    assert (await json_of(response, 415))["error"]["code"] == "request.unsupported_media_type"


async def test_a_malformed_multipart_body_is_400(api, ann) -> None:
    headers = {**ann.headers, "Content-Type": "multipart/form-data"}  # no boundary
    response = await api.post(AVATAR, data=b"garbage", headers=headers)
    assert (await json_of(response, 400))["error"]["code"] == "request.invalid"


@pytest.mark.parametrize("name", [b"a\x00.png", b"a\r.png", b"a" * 70000 + b".png"])
async def test_a_nul_or_a_broken_line_in_the_file_name_is_400(api, ann, name) -> None:
    body = (
        b'--xx\r\nContent-Disposition: form-data; name="file"; filename="' + name + b'"\r\n'
        b"Content-Type: image/png\r\n\r\n" + image_bytes("PNG") + b"\r\n--xx--\r\n"
    )
    headers = {**ann.headers, "Content-Type": "multipart/form-data; boundary=xx"}
    response = await api.post(AVATAR, data=body, headers=headers)
    assert (await json_of(response, 400))["error"]["code"] == "request.invalid"
    assert uploads_of(api, ann) == []


async def test_the_upload_needs_a_token(api) -> None:
    response = await api.post(AVATAR, data=form(image_bytes("PNG")))
    assert response.status == 401
