"""Local file storage: safe keys only, atomic writes, size limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from server.settings import Settings
from server.storage import (
    InvalidKey,
    LocalStorage,
    TooLarge,
    new_key,
    safe_key,
    storage_from_settings,
)


def entries(path: Path) -> list[Path]:
    return list(path.iterdir())


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


@pytest.mark.parametrize(
    "key",
    ["../etc/passwd", "a/../b", "/abs", "a//b", ".hidden", "a/.git/x", "", "a/b c", "a\\b", "ü"],
)
def test_unsafe_keys_are_refused(key: str) -> None:
    with pytest.raises(InvalidKey):
        safe_key(key)


def test_new_keys_are_fresh_and_safe() -> None:
    first, second = new_key("exports/7", ".zip"), new_key("exports/7", ".zip")
    assert first != second
    assert first.startswith("exports/7/") and first.endswith(".zip")
    assert safe_key(first) == first


async def test_a_stream_is_stored_read_and_deleted(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    assert await storage.write("a/b.bin", chunks(b"hello ", b"world")) == 11
    assert await storage.exists("a/b.bin")
    assert await storage.read("a/b.bin") == b"hello world"
    assert storage.path("a/b.bin") == storage.root / "a" / "b.bin"
    await storage.delete("a/b.bin")
    await storage.delete("a/b.bin")  # deleting twice is fine
    assert not await storage.exists("a/b.bin")


async def test_a_stream_over_the_limit_leaves_nothing_behind(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    with pytest.raises(TooLarge):
        await storage.write("big.bin", chunks(b"x" * 600, b"x" * 600), limit=1000)
    assert not await storage.exists("big.bin")
    assert entries(tmp_path) == [], "no partial file is left"


async def test_put_replaces_a_file_whole(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    await storage.put("f.txt", b"first version")
    await storage.put("f.txt", b"second")
    assert await storage.read("f.txt") == b"second"


def test_settings_choose_the_directory(tmp_path: Path) -> None:
    explicit = storage_from_settings(Settings(storage_dir=tmp_path / "files"))
    assert isinstance(explicit, LocalStorage) and explicit.root == (tmp_path / "files").resolve()
    default = storage_from_settings(Settings(data_dir=tmp_path / "data"))
    assert isinstance(default, LocalStorage)
    assert default.root == (tmp_path / "data" / "files").resolve()
