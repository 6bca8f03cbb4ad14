"""Uploads (QUALITY.md item 14): the type comes from the content, never the name; oversize,
bombs, SVG, disguised scripts and `../` names are refused or neutralised, and nothing is kept."""

from __future__ import annotations

import pytest
from aiohttp import FormData
from PIL import Image

from server.content.media.checks import display_name
from server.keys import RUNTIME
from tests.helpers.env import make_settings
from tests.helpers.media import error_code, form, process, stored_files, upload
from tests.helpers.people import call, person
from tests.server.content.media.samples import (
    HTML,
    PHP,
    SECRET,
    SVG,
    audio_bytes,
    image_bytes,
    jpeg_with_exif,
    png_claiming,
    video_bytes,
)


async def test_an_image_upload_is_recorded_and_queued(api, creator) -> None:
    data = await upload(api, creator, image_bytes("PNG", (640, 480)), filename="holiday.png")
    assert data["owner_id"] == creator.id and data["kind"] == "image"
    assert data["status"] == "uploaded" and data["content_type"] == "image/png"
    assert (data["width"], data["height"]) == (640, 480)
    assert data["name"] == "holiday.png" and data["variants"] == [] and data["content_id"] is None
    [stored] = stored_files(api, creator.id)
    assert stored.suffix == ".png" and "holiday" not in stored.name, "keys are random"
    assert data["size_bytes"] == stored.stat().st_size


@pytest.mark.parametrize(
    ("kind", "make", "content_type"),
    [("video", video_bytes, "video/mp4"), ("audio", audio_bytes, "audio/mpeg")],
)
async def test_audio_and_video_are_probed_on_upload(api, creator, kind, make, content_type) -> None:
    data = await upload(api, creator, make(), kind=kind, filename=f"clip.{kind}")
    assert data["content_type"] == content_type
    assert data["duration_ms"] is not None and data["duration_ms"] > 500
    if kind == "video":
        assert (data["width"], data["height"]) == (160, 120)


async def test_the_kind_may_come_as_a_query_parameter(api, creator) -> None:
    body = form(image_bytes("JPEG"), kind=None)
    data = await call(api, "POST", "/media?kind=image", creator, 201, data=body)
    assert data["content_type"] == "image/jpeg"


async def test_readers_may_not_upload(api, reader) -> None:
    data = await upload(api, reader, image_bytes("PNG"), status=403)
    assert data["error"]["code"] != "media.unsupported_type"
    assert stored_files(api, reader.id) == []


@pytest.mark.parametrize(
    ("payload", "filename"),
    [
        (HTML, "cat.jpg"),  # .html renamed .jpg
        (PHP, "cat.jpg"),  # .php renamed .jpg
        (SVG, "logo.svg"),  # SVG carries scripts: never accepted
        (b"\xff\xd8\xff\xe0" + b"\x00" * 20 + PHP, "fake.jpg"),  # JPEG magic, not a JPEG
        (b"GIF89a" + PHP, "polyglot.gif"),  # GIF magic, fails to open
        (b"", "empty.jpg"),
    ],
)
async def test_files_that_are_not_what_they_claim_are_refused(
    api, creator, payload, filename
) -> None:
    data = await upload(api, creator, payload, status=415, filename=filename)
    assert error_code(data) == "media.unsupported_type"
    assert stored_files(api, creator.id) == [], "nothing is kept"


@pytest.mark.parametrize(
    ("kind", "make"),
    [
        ("video", lambda: image_bytes("PNG")),  # an image is not a video
        ("image", video_bytes),  # nor a video an image
        ("audio", video_bytes),  # a video with sound is not audio
        ("video", audio_bytes),
        ("video", lambda: b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 400),  # MP4 magic, no movie
    ],
)
async def test_a_file_of_another_kind_is_refused(api, creator, kind, make) -> None:
    data = await upload(api, creator, make(), kind=kind, status=415)
    assert error_code(data) == "media.unsupported_type"
    assert stored_files(api, creator.id) == []


async def test_a_decompression_bomb_is_refused_before_decoding(api, creator) -> None:
    data = await upload(api, creator, png_claiming(100_000, 100_000), status=422)
    assert error_code(data) == "media.too_many_pixels"
    data = await upload(api, creator, png_claiming(8000, 8000), status=422)  # under Pillow's cap
    assert error_code(data) == "media.too_many_pixels"
    assert stored_files(api, creator.id) == []


async def test_an_oversize_upload_is_refused_and_nothing_is_kept(make_client, database_url) -> None:
    small = make_settings(database_url=database_url, media_image_max_bytes=4000)
    api = await make_client(small)
    creator = await person(api, "creator")
    big = image_bytes("PNG", (400, 400), mode="RGB", compress_level=0)
    assert len(big) > 4000
    data = await upload(api, creator, big, status=413)
    assert error_code(data) == "media.too_large"
    assert stored_files(api, creator.id) == []
    # Announced as too large by Content-Length with ?kind=: refused before reading the body.
    body = form(b"\x00" * 80_000, kind=None)
    data = await call(api, "POST", "/media?kind=image", creator, 413, data=body)
    assert error_code(data) == "media.too_large"


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("../../etc/passwd.jpg", "passwd.jpg"),
        ("..\\..\\windows\\win.ini.jpg", "win.ini.jpg"),
        ("/abs/../x.png", "x.png"),
        ("..", ""),
        (".htaccess", "htaccess"),
        ("a<b>|c?.jpg", "abc.jpg"),
        ("照片.jpg", "照片.jpg"),
    ],
)
async def test_file_names_are_only_kept_sanitised_for_display(api, creator, name, shown) -> None:
    data = await upload(api, creator, image_bytes("JPEG"), filename=name)
    assert data["name"] == shown == display_name(name)
    [stored] = stored_files(api, creator.id)
    root = api.app[RUNTIME].storage.root
    assert stored.resolve().is_relative_to(root / "media" / str(creator.id))
    assert stored.suffix == ".jpg"


async def test_a_jpeg_with_a_script_appended_is_neutralised_by_re_encoding(api, creator) -> None:
    data = await upload(api, creator, jpeg_with_exif() + PHP)
    assert await process(api, data["id"]) == "ready"
    media = await call(api, "GET", f"/media/{data['id']}", creator, 200)
    assert media["status"] == "ready" and media["variants"] == ["large", "thumb"]
    assert (media["width"], media["height"]) == (300, 400), "turned upright by its EXIF"
    storage = api.app[RUNTIME].storage
    variants = [path for path in stored_files(api, creator.id) if "-" in path.name]
    assert len(variants) == 2
    for path in variants:
        raw = path.read_bytes()
        assert b"<?php" not in raw and SECRET.encode() not in raw and b"SecretCam" not in raw
        with Image.open(path) as image:
            assert not image.getexif() and "icc_profile" not in image.info
    assert storage is not None


async def test_multipart_mistakes_are_clear_errors(api, creator) -> None:
    data = await call(api, "POST", "/media", creator, 415, json={"kind": "image"})
    assert error_code(data) == "media.not_multipart"
    no_kind = form(image_bytes("PNG"), kind=None)
    data = await call(api, "POST", "/media", creator, 422, data=no_kind)
    assert "kind" in data["error"]["fields"]
    bad_kind = FormData()
    bad_kind.add_field("kind", "document")
    bad_kind.add_field("file", b"x", filename="x.pdf")
    data = await call(api, "POST", "/media", creator, 422, data=bad_kind)
    assert "kind" in data["error"]["fields"]
    no_file = FormData(default_to_multipart=True)
    no_file.add_field("kind", "image")
    no_file.add_field("other", "value")
    data = await call(api, "POST", "/media", creator, 422, data=no_file)
    assert "file" in data["error"]["fields"]
    data = await call(api, "POST", "/media?kind=document", creator, 422, data=form(b"x"))
    response = await api.post(
        "/api/v1/media",
        data=b"--xx\r\nbroken",
        headers={**creator.headers, "Content-Type": "multipart/form-data; boundary=yy"},
    )
    assert response.status == 400
    assert stored_files(api, creator.id) == []


@pytest.mark.parametrize(
    "disposition",
    [
        b'form-data; name="file"; filename="a\x00.jpg"',
        b'form-data; name="file"; filename="a\r.jpg"',
        b'form-data; name="file"; filename="' + b"a" * 70000 + b'.jpg"',
    ],
)
async def test_a_broken_file_part_header_is_refused(api, creator, disposition) -> None:
    body = (
        b'--xx\r\nContent-Disposition: form-data; name="kind"\r\n\r\nimage\r\n'
        b"--xx\r\nContent-Disposition: "
        + disposition
        + b"\r\nContent-Type: image/jpeg\r\n\r\n"
        + image_bytes("JPEG")
        + b"\r\n--xx--\r\n"
    )
    response = await api.post(
        "/api/v1/media",
        data=body,
        headers={**creator.headers, "Content-Type": "multipart/form-data; boundary=xx"},
    )
    assert response.status == 400, await response.text()
    assert (await response.json())["error"]["code"] == "media.broken_multipart"
    assert stored_files(api, creator.id) == []
