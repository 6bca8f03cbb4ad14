"""Signed, expiring links to stored files (paid media, data exports, receipts).

A link names a storage key, an expiry (Unix seconds) and optionally the user it was made for;
the signature is an HMAC-SHA256 over all three with the deployment's URL secret, so a link
cannot be moved to another file, extended, or (when bound) used by someone else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from server.crypto import same_secret
from server.http.errors import Forbidden


class LinkInvalid(Forbidden):
    code, message = "files.link_invalid", "This link is invalid or has expired."


@dataclass(frozen=True, slots=True)
class UrlSigner:
    secret: bytes
    base_url: str

    def _signature(self, key: str, expires: int, user_id: int | None) -> str:
        message = f"{key}\n{expires}\n{user_id or ''}".encode()
        digest = hmac.new(self.secret, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def sign(
        self, key: str, *, now: datetime, ttl: timedelta, user_id: int | None = None
    ) -> tuple[str, datetime]:
        """A link to `/files/<key>` valid for `ttl`, and when it expires."""
        expires_at = now + ttl
        expires = int(expires_at.timestamp())
        query = {"expires": expires, "sig": self._signature(key, expires, user_id)}
        if user_id is not None:
            query["uid"] = user_id
        return f"{self.base_url.rstrip('/')}/files/{key}?{urlencode(query)}", expires_at

    def verify(
        self, key: str, *, expires: str, sig: str, uid: str | None, now: datetime
    ) -> int | None:
        """The user the link is bound to (or None); LinkInvalid if forged, moved or expired."""
        try:
            expires_at = int(expires)
            user_id = int(uid) if uid else None
        except ValueError as exc:
            raise LinkInvalid() from exc
        expected = self._signature(key, expires_at, user_id)
        if not same_secret(sig, expected) or expires_at < now.timestamp():
            raise LinkInvalid()
        return user_id
