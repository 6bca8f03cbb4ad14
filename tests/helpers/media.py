"""Media helpers: uploads as multipart forms, and processing without a worker process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import FormData
from aiohttp.test_utils import TestClient

from jobs.media import process_media
from server.keys import RUNTIME
from tests.helpers.people import Person, call


def form(data: bytes, *, kind: str | None = "image", filename: str = "photo.jpg") -> FormData:
    body = FormData()
    if kind is not None:
        body.add_field("kind", kind)
    body.add_field("file", data, filename=filename, content_type="application/octet-stream")
    return body


async def upload(
    api: TestClient, who: Person, data: bytes, status: int = 201, **options: Any
) -> Any:
    return await call(api, "POST", "/media", who, status, data=form(data, **options))


async def process(api: TestClient, media_id: int) -> str | None:
    """Run the media task in this process (the worker tests run it on a real arq worker)."""
    return await process_media({"runtime": api.app[RUNTIME]}, media_id=media_id)


def stored_files(api: TestClient, owner_id: int) -> list[Path]:
    root = api.app[RUNTIME].storage.root / "media" / str(owner_id)
    return sorted(path for path in root.rglob("*") if path.is_file()) if root.exists() else []


def error_code(data: Any) -> str:
    code: str = data["error"]["code"]
    return code
