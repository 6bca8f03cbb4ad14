"""Personal data at rest: AES-256-GCM ciphertexts and keyed lookup hashes.

Phone numbers, real names and ID numbers are stored encrypted; where the application must find a
row by such a value (sign-in by phone, one identity per account) it stores a keyed HMAC-SHA256 of
the normalised value beside it. A `context` string (the column's purpose) is bound into both, so a
ciphertext or hash copied into another column does not verify or match there.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from server.settings import Settings

VERSION = "v1"
KEY_FILE = "pii-keys.json"


class PiiError(ValueError):
    """A ciphertext that is malformed or was not made with this key for this context."""


class PiiCipher:
    """Encrypts, decrypts and hashes personal data with the deployment's keys."""

    def __init__(self, encryption_key: bytes, hash_key: bytes) -> None:
        if len(encryption_key) != 32 or len(hash_key) < 32:
            raise ValueError("PII keys must be 32 bytes (base64 in the settings)")
        self._aead = AESGCM(encryption_key)
        self._hash_key = hash_key

    @classmethod
    def from_settings(cls, settings: Settings) -> PiiCipher:
        """The configured keys; outside production, a pair generated once into DATA_DIR."""
        enc = settings.pii_encryption_key
        mac = settings.pii_hash_key
        if enc is not None and mac is not None:
            return cls(_b64(enc.get_secret_value()), _b64(mac.get_secret_value()))
        if settings.environment == "production":
            raise RuntimeError("PII_ENCRYPTION_KEY and PII_HASH_KEY are required in production")
        keys = generated_keys(settings.data_dir)
        return cls(keys["encryption_key"], keys["hash_key"])

    def encrypt(self, value: str, *, context: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, value.encode(), context.encode())
        return f"{VERSION}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def decrypt(self, token: str, *, context: str) -> str:
        version, _, payload = token.partition(":")
        if version != VERSION:
            raise PiiError("unknown ciphertext version")
        try:
            raw = base64.urlsafe_b64decode(payload)
            return self._aead.decrypt(raw[:12], raw[12:], context.encode()).decode()
        except (InvalidTag, ValueError) as exc:
            raise PiiError("ciphertext does not verify") from exc

    def derive_key(self, purpose: str) -> bytes:
        """A secret for another purpose, derived from the hash key (development defaults)."""
        return hmac.new(self._hash_key, f"derive\x00{purpose}".encode(), hashlib.sha256).digest()

    def lookup_hash(self, value: str, *, context: str) -> str:
        """A stable keyed hash of `value` (already normalised) for equality lookups."""
        message = f"{context}\x00{value}".encode()
        return hmac.new(self._hash_key, message, hashlib.sha256).hexdigest()


def same_secret(given: str | bytes, expected: str | bytes) -> bool:
    """Compare a secret a client sent with ours in constant time, whatever characters it holds."""

    # compare_digest refuses str holding non-ASCII (TypeError), so both sides are compared as
    # bytes; surrogatepass keeps a lone surrogate from raising too.
    def raw(value: str | bytes) -> bytes:
        return value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")

    return hmac.compare_digest(raw(given), raw(expected))


def _b64(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except ValueError as exc:
        raise ValueError("PII keys must be base64") from exc


def new_key() -> str:
    """A fresh base64 key for PII_ENCRYPTION_KEY or PII_HASH_KEY."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


def generated_keys(data_dir: Path) -> dict[str, bytes]:
    """Development keys kept in DATA_DIR, created on first use (mode 0600)."""
    path = data_dir / KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        document = {"encryption_key": new_key(), "hash_key": new_key()}
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process of this deployment made it just now
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                json.dump(document, handle)
    stored = json.loads(path.read_text())
    return {name: _b64(stored[name]) for name in ("encryption_key", "hash_key")}
