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
import tempfile
from collections.abc import AsyncIterable
from pathlib import Path
from typing import Any, Protocol

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


class S3Storage:
    """Objects in one bucket of an S3-compatible store (AWS S3, MinIO, Ceph, OSS, COS...).
    There is no local path: jobs that need a file (ffprobe, Pillow) download it first."""

    def __init__(
        self,
        *,
        endpoint_url: str | None,
        bucket: str,
        access_key: str | None,
        secret_key: str | None,
        region: str,
    ) -> None:
        from aiobotocore.session import get_session

        self.bucket = bucket
        self._session = get_session()
        self._options = {
            "endpoint_url": endpoint_url or None,
            "region_name": region,
            "aws_access_key_id": access_key,
            "aws_secret_access_key": secret_key,
        }

    def _client(self) -> Any:
        return self._session.create_client("s3", **self._options)

    def path(self, key: str) -> Path | None:
        safe_key(key)
        return None

    async def write(
        self, key: str, chunks: AsyncIterable[bytes], *, limit: int | None = None
    ) -> int:
        safe_key(key)
        # Spooled to a temporary file first: nothing reaches the bucket past the limit, and a
        # reader never sees half an object.
        with tempfile.TemporaryFile() as buffer:
            size = 0
            async for chunk in chunks:
                size += len(chunk)
                if limit is not None and size > limit:
                    raise TooLarge(key)
                await asyncio.to_thread(buffer.write, chunk)
            buffer.seek(0)
            async with self._client() as client:
                await client.put_object(
                    Bucket=self.bucket, Key=key, Body=buffer, ContentLength=size
                )
        return size

    async def put(self, key: str, data: bytes) -> int:
        safe_key(key)
        async with self._client() as client:
            await client.put_object(Bucket=self.bucket, Key=key, Body=data)
        return len(data)

    async def read(self, key: str) -> bytes:
        safe_key(key)
        async with self._client() as client:
            try:
                response = await client.get_object(Bucket=self.bucket, Key=key)
            except client.exceptions.NoSuchKey as exc:
                raise FileNotFoundError(key) from exc
            async with response["Body"] as body:
                data: bytes = await body.read()
        return data

    async def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        safe_key(key)
        async with self._client() as client:
            try:
                await client.head_object(Bucket=self.bucket, Key=key)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                    return False
                raise
        return True

    async def delete(self, key: str) -> None:
        safe_key(key)
        async with self._client() as client:
            await client.delete_object(Bucket=self.bucket, Key=key)


def storage_from_settings(settings: Settings) -> Storage:
    """The configured backend: local disk under STORAGE_DIR (by default DATA_DIR/files), or an
    S3 bucket when STORAGE_BACKEND=s3."""
    if settings.storage_backend == "s3":
        secret = settings.s3_secret_key
        return S3Storage(
            endpoint_url=settings.s3_endpoint_url,
            bucket=settings.s3_bucket,
            access_key=settings.s3_access_key,
            secret_key=secret.get_secret_value() if secret is not None else None,
            region=settings.s3_region,
        )
    return LocalStorage(settings.storage_dir or settings.data_dir / "files")
