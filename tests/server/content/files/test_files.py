"""GET /files/{key}: public keys to anyone, other keys only through a valid signed link."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from yarl import URL

from server.keys import RUNTIME
from tests.helpers.profiles import Person, json_of, sign_up

PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 32


async def put(client: Any, key: str, data: bytes = PNG) -> None:
    await client.app[RUNTIME].storage.put(key, data)


def signed_path(client: Any, key: str, *, ttl: float = 60, user_id: int | None = None) -> str:
    runtime = client.app[RUNTIME]
    url, _ = runtime.signer.sign(
        key, now=runtime.clock.now(), ttl=timedelta(seconds=ttl), user_id=user_id
    )
    parsed = URL(url)
    return str(parsed.relative())


async def error_of(response: Any, status: int) -> str:
    return (await json_of(response, status))["error"]["code"]


async def test_a_public_file_is_served_to_anyone_with_long_caching(api) -> None:
    await put(api, "public/avatars/1/abc-256.webp", b"RIFF....WEBPVP8 ")
    response = await api.get("/files/public/avatars/1/abc-256.webp")
    assert response.status == 200
    assert await response.read() == b"RIFF....WEBPVP8 "
    assert response.headers["Content-Type"] == "image/webp"
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Disposition"].startswith("inline")


async def test_a_missing_public_file_is_404(api) -> None:
    response = await api.get("/files/public/avatars/1/none-256.webp")
    assert await error_of(response, 404) == "files.not_found"


async def test_a_private_file_needs_a_signature(api) -> None:
    await put(api, "exports/7/archive.zip", b"PK\x03\x04zip")
    assert (
        await error_of(await api.get("/files/exports/7/archive.zip"), 403) == "files.link_invalid"
    )
    response = await api.get(signed_path(api, "exports/7/archive.zip"))
    assert response.status == 200 and await response.read() == b"PK\x03\x04zip"
    assert response.headers["Cache-Control"] == "private, no-store"
    assert response.headers["Content-Type"] == "application/zip"
    assert response.headers["Content-Disposition"] == 'attachment; filename="archive.zip"'


async def test_a_signed_link_for_a_missing_file_is_404(api) -> None:
    assert await error_of(await api.get(signed_path(api, "exports/7/gone.zip")), 404) == (
        "files.not_found"
    )


@pytest.mark.parametrize(
    "tamper",
    [
        lambda path: path.replace("archive.zip", "other.zip"),
        lambda path: path.replace("expires=", "expires=9"),
        lambda path: path.replace("sig=", "sig=A"),
        lambda path: path.replace("sig=", "sig=%C3%A9"),
        lambda path: path.replace("expires=", "expires=x"),
        lambda path: path + "&uid=1",
    ],
)
async def test_a_tampered_link_is_403(api, tamper) -> None:
    await put(api, "exports/7/archive.zip")
    await put(api, "exports/7/other.zip")
    path = tamper(signed_path(api, "exports/7/archive.zip"))
    assert await error_of(await api.get(path), 403) == "files.link_invalid"


async def test_an_expired_link_is_403(api) -> None:
    await put(api, "exports/7/archive.zip")
    path = signed_path(api, "exports/7/archive.zip", ttl=-1)
    assert await error_of(await api.get(path), 403) == "files.link_invalid"


async def test_a_link_made_for_a_user_needs_that_users_token(api) -> None:
    ann: Person = await sign_up(api, "Ann")
    bob: Person = await sign_up(api, "Bob")
    await put(api, "exports/ann/archive.zip")
    path = signed_path(api, "exports/ann/archive.zip", user_id=ann.id)
    assert (await api.get(path, headers=ann.headers)).status == 200
    assert await error_of(await api.get(path), 403) == "files.link_invalid"
    assert await error_of(await api.get(path, headers=bob.headers), 403) == "files.link_invalid"
    bad = {"Authorization": "Bearer nonsense"}
    assert (await api.get(path, headers=bad)).status == 401


@pytest.mark.parametrize(
    "path",
    [
        "/files/public/%2e%2e/exports/7/archive.zip",
        "/files/public/..%2Fexports%2F7%2Farchive.zip",
        "/files/public%2F..%2F..%2Fetc%2Fpasswd",
        "/files/%2Fetc%2Fpasswd",
        "/files/public/avatars/.hidden",
        "/files/public//avatars/1/abc-256.webp",
        "/files/public/avatars/1/a%00b.webp",
        "/files/public/avatars/1/a%5Cb.webp",
    ],
)
async def test_unsafe_keys_are_404_and_never_reach_the_disk(api, path) -> None:
    await put(api, "exports/7/archive.zip")
    response = await api.get(URL(path, encoded=True))
    assert response.status == 404
    assert await response.read() != PNG


async def test_a_file_outside_public_cannot_be_reached_through_public(api) -> None:
    await put(api, "uploads/avatars/1/original")
    response = await api.get("/files/uploads/avatars/1/original")
    assert await error_of(response, 403) == "files.link_invalid"


async def test_a_backend_without_local_paths_serves_the_bytes(api, monkeypatch) -> None:
    await put(api, "public/avatars/1/abc-64.webp", b"RIFF....WEBPVP8 ")
    local = api.app[RUNTIME].storage

    class RemoteStorage:  # like an object store: the same files, no local paths
        exists, read = local.exists, local.read

        def path(self, key: str) -> None:
            return None

    monkeypatch.setattr(api.app[RUNTIME], "storage", RemoteStorage())
    response = await api.get("/files/public/avatars/1/abc-64.webp")
    assert response.status == 200 and await response.read() == b"RIFF....WEBPVP8 "
    assert response.headers["Content-Type"] == "image/webp"
