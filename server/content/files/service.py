"""Which stored file a request may read: `public/...` keys are open, the rest need a signed link."""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from server.http.errors import NotFound
from server.signing import LinkInvalid, UrlSigner
from server.storage import InvalidKey, Storage, safe_key

PUBLIC_PREFIX = "public/"
# Types a browser may show in place; anything else downloads, so no stored file runs as a page.
INLINE_TYPES = ("image/", "audio/", "video/", "application/pdf")
mimetypes.add_type("image/webp", ".webp")


class FileNotFound(NotFound):
    code, message = "files.not_found", "No such file."


@dataclass(frozen=True, slots=True)
class StoredFile:
    key: str
    public: bool
    content_type: str
    path: Path | None

    @property
    def inline(self) -> bool:
        return self.content_type.startswith(INLINE_TYPES)

    @property
    def filename(self) -> str:
        return self.key.rsplit("/", 1)[-1]


def checked_key(key: str) -> str:
    """The key if it is a safe storage key; 404 for anything else (`..`, dot files, odd bytes)."""
    try:
        return safe_key(key)
    except InvalidKey as exc:
        raise FileNotFound() from exc


def is_public(key: str) -> bool:
    return key.startswith(PUBLIC_PREFIX)


def authorize(
    signer: UrlSigner,
    key: str,
    *,
    expires: str | None,
    sig: str | None,
    uid: str | None,
    caller_id: int | None,
    now: datetime,
) -> None:
    """Pass public keys; others need a valid, unexpired signature, and a link made for one user
    needs that user's bearer token too (403 `files.link_invalid` otherwise)."""
    if is_public(key):
        return
    if not expires or not sig:
        raise LinkInvalid()
    bound_to = signer.verify(key, expires=expires, sig=sig, uid=uid, now=now)
    if bound_to is not None and bound_to != caller_id:
        raise LinkInvalid()


async def locate(storage: Storage, key: str) -> StoredFile:
    """The stored file behind a checked key; 404 when there is none."""
    if not await storage.exists(key):
        raise FileNotFound()
    content_type = mimetypes.guess_type(key)[0] or "application/octet-stream"
    return StoredFile(key, is_public(key), content_type, storage.path(key))
