"""One Storage contract, two backends: local disk, and S3 (against moto's S3 server on a local
port, speaking the real S3 wire protocol). Media work the same on both."""

from __future__ import annotations

import secrets
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from moto.server import ThreadedMotoServer

from jobs.media import process_media
from server.keys import RUNTIME
from server.settings import Settings
from server.storage import (
    InvalidKey,
    LocalStorage,
    S3Storage,
    Storage,
    TooLarge,
    storage_from_settings,
)
from tests.helpers.env import make_settings
from tests.helpers.media import upload
from tests.helpers.people import call, person
from tests.server.content.media.samples import image_bytes, video_bytes


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def s3_options(endpoint: str, bucket: str) -> dict[str, Any]:
    return {
        "storage_backend": "s3",
        "s3_endpoint_url": endpoint,
        "s3_bucket": bucket,
        "s3_access_key": "testing",
        "s3_secret_key": "testing",
        "s3_region": "us-east-1",
    }


async def new_bucket(endpoint: str) -> S3Storage:
    storage = storage_from_settings(
        Settings(**s3_options(endpoint, f"media-{secrets.token_hex(4)}"))
    )
    assert isinstance(storage, S3Storage)
    async with storage._client() as client:
        await client.create_bucket(Bucket=storage.bucket)
    return storage


@pytest.fixture(params=["local", "s3"])
async def storage(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[Storage]:
    if request.param == "local":
        yield LocalStorage(tmp_path)
    else:
        yield await new_bucket(request.getfixturevalue("s3_endpoint"))


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_a_stream_is_stored_read_and_deleted(storage: Storage) -> None:
    assert await storage.write("a/b.bin", chunks(b"hello ", b"world")) == 11
    assert await storage.exists("a/b.bin")
    assert await storage.read("a/b.bin") == b"hello world"
    await storage.delete("a/b.bin")
    await storage.delete("a/b.bin")  # deleting twice is fine
    assert not await storage.exists("a/b.bin")
    with pytest.raises(FileNotFoundError):
        await storage.read("a/b.bin")


async def test_a_stream_over_the_limit_leaves_nothing_behind(storage: Storage) -> None:
    with pytest.raises(TooLarge):
        await storage.write("big.bin", chunks(b"x" * 600, b"x" * 600), limit=1000)
    assert not await storage.exists("big.bin")
    assert await storage.write("fits.bin", chunks(b"x" * 1000), limit=1000) == 1000


async def test_put_replaces_a_file_whole(storage: Storage) -> None:
    assert await storage.put("f.txt", b"first version") == 13
    await storage.put("f.txt", b"second")
    assert await storage.read("f.txt") == b"second"


@pytest.mark.parametrize("key", ["../etc/passwd", "a/../b", ".hidden", "a//b"])
async def test_unsafe_keys_are_refused_by_every_backend(storage: Storage, key: str) -> None:
    with pytest.raises(InvalidKey):
        await storage.put(key, b"x")
    with pytest.raises(InvalidKey):
        await storage.exists(key)
    with pytest.raises(InvalidKey):
        storage.path(key)


def test_settings_choose_the_backend(tmp_path: Any) -> None:
    s3 = storage_from_settings(Settings(**s3_options("http://127.0.0.1:9", "media-a")))
    assert isinstance(s3, S3Storage) and s3.bucket == "media-a" and s3.path("a/b") is None
    local = storage_from_settings(Settings(storage_backend="local", storage_dir=tmp_path))
    assert isinstance(local, LocalStorage)


async def test_media_upload_processing_and_links_work_on_s3(
    make_client, database_url, s3_endpoint
) -> None:
    bucket = await new_bucket(s3_endpoint)
    settings = make_settings(database_url=database_url, **s3_options(s3_endpoint, bucket.bucket))
    api = await make_client(settings)
    runtime = api.app[RUNTIME]
    assert isinstance(runtime.storage, S3Storage)
    creator = await person(api, "creator")
    image = await upload(api, creator, image_bytes("PNG", (500, 400)))
    video = await upload(api, creator, video_bytes(), kind="video")
    for media in (image, video):
        assert await process_media({"runtime": runtime}, media_id=media["id"]) == "ready"
        link = await call(api, "GET", f"/media/{media['id']}/url", creator, 200)
        parts = urlsplit(link["url"])
        response = await api.get(f"{parts.path}?{parts.query}", headers=creator.headers)
        assert response.status == 200
        assert response.content_type in ("image/webp", "image/jpeg", "video/mp4")
    refused = await upload(api, creator, b"<html></html>", status=415)
    assert refused["error"]["code"] == "media.unsupported_type"
