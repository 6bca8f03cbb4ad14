"""File storage behind one interface: uploads, avatars, generated archives and receipts.

Keys are relative paths of safe segments (`avatars/12/ab3f.webp`); nothing a client sends is
used as a key without `safe_key`. The local backend writes atomically (temporary file, then
rename), so a reader never sees half a file.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
from collections.abc import AsyncIterable
from pathlib import Path
from typing import Protocol

from server.settings import Settings

_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
CHUNK = 256 * 1024


class InvalidKey(ValueError):
    """A storage key with an unsafe segment (`..`, a leading dot, a slash, odd characters)."""


class TooLarge(ValueError):
    """A stream longer than the limit it was written with."""


def safe_key(key: str) -> str:
    """The key itself if every segment is safe; else InvalidKey."""
    parts = key.split("/")
    if not parts or any(not _SEGMENT.match(part) for part in parts):
        raise InvalidKey(key)
    return key


def new_key(prefix: str, suffix: str = "") -> str:
    """A fresh unguessable key under `prefix`."""
    return safe_key(f"{prefix}/{secrets.token_hex(16)}{suffix}")


class Storage(Protocol):
    async def write(
        self, key: str, chunks: AsyncIterable[bytes], *, limit: int | None = None
    ) -> int:
        """Store a stream under `key`; its size. TooLarge (nothing kept) past `limit` bytes."""
        ...

    async def put(self, key: str, data: bytes) -> int: ...

    async def read(self, key: str) -> bytes: ...

    def path(self, key: str) -> Path | None:
        """A local file path for `key` when the backend has one (for ffprobe, Pillow)."""
        ...

    async def exists(self, key: str) -> bool: ...

    async def delete(self, key: str) -> None: ...


class LocalStorage:
    """Files under one directory."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def path(self, key: str) -> Path:
        return self.root / safe_key(key)

    async def write(
        self, key: str, chunks: AsyncIterable[bytes], *, limit: int | None = None
    ) -> int:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")
        size = 0
        try:
            with partial.open("wb") as handle:
                async for chunk in chunks:
                    size += len(chunk)
                    if limit is not None and size > limit:
                        raise TooLarge(key)
                    await asyncio.to_thread(handle.write, chunk)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        return size

    async def put(self, key: str, data: bytes) -> int:
        async def one() -> AsyncIterable[bytes]:
            yield data

        return await self.write(key, one())

    async def read(self, key: str) -> bytes:
        return await asyncio.to_thread(self.path(key).read_bytes)

    async def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    async def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)


def storage_from_settings(settings: Settings) -> Storage:
    """The configured backend (local disk under STORAGE_DIR, by default DATA_DIR/files)."""
    return LocalStorage(settings.storage_dir or settings.data_dir / "files")
