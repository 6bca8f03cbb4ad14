"""Access tokens (RS256 JWTs), their key pair and JWK, and opaque refresh tokens."""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import os
import secrets
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from jwt.algorithms import RSAAlgorithm

from server.http.errors import Unauthorized
from server.settings import Settings

ALGORITHM = "RS256"
REQUIRED_CLAIMS = ["exp", "iat", "sub", "sid", "iss", "aud"]
# Tolerated clock difference between the instance that signed a token and the one reading it.
LEEWAY_SECONDS = 5
GENERATED_KEY_NAME = "jwt-private.pem"


# Verified access tokens remembered per process (about 1 KB each).
MAX_VERIFIED_TOKENS = 50_000


class InvalidToken(Unauthorized):
    code, message = "auth.invalid_token", "The access token is invalid or has expired."


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: int
    session_id: int
    roles: tuple[str, ...]
    expires_at: datetime


class TokenService:
    """Signs and verifies access tokens with one RSA key pair, named by its RFC 7638 thumbprint."""

    def __init__(
        self,
        private_key: rsa.RSAPrivateKey,
        *,
        issuer: str,
        audience: str,
        access_seconds: int,
        refresh_seconds: int = 7 * 24 * 3600,
        refresh_grace_seconds: float = 10.0,
        reactivation_grace_days: int = 30,
        public_key: rsa.RSAPublicKey | None = None,
    ) -> None:
        self._private_key = private_key
        self._verified: dict[str, AccessClaims] = {}
        self.public_key = public_key or private_key.public_key()
        self.issuer = issuer
        self.audience = audience
        self.access_seconds = access_seconds
        self.refresh_seconds = refresh_seconds
        self.refresh_grace_seconds = refresh_grace_seconds
        # Signing in within this many days of deactivating reopens the account.
        self.reactivation_grace_days = reactivation_grace_days
        public_jwk: dict[str, Any] = RSAAlgorithm.to_jwk(self.public_key, as_dict=True)
        self.kid = jwk_thumbprint(public_jwk)
        self.jwk: dict[str, str] = {
            "kty": "RSA",
            "use": "sig",
            "alg": ALGORITHM,
            "kid": self.kid,
            "n": public_jwk["n"],
            "e": public_jwk["e"],
        }

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenService:
        private_key, public_key = load_key_pair(settings)
        return cls(
            private_key,
            public_key=public_key,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            access_seconds=settings.access_token_seconds,
            refresh_seconds=settings.refresh_token_seconds,
            refresh_grace_seconds=settings.refresh_grace_seconds,
            reactivation_grace_days=settings.account_reactivation_days,
        )

    def issue_access(
        self, *, user_id: int, session_id: int, roles: list[str], now: datetime
    ) -> str:
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": str(user_id),
            "sid": session_id,
            "roles": list(roles),
            "iat": int(now.timestamp()),
            "exp": int((now + timedelta(seconds=self.access_seconds)).timestamp()),
            "jti": secrets.token_urlsafe(12),
        }
        return jwt.encode(claims, self._private_key, algorithm=ALGORITHM, headers={"kid": self.kid})

    def decode_access(self, token: str) -> AccessClaims:
        """Verify signature, algorithm, issuer, audience and lifetime; 401 on anything wrong.

        A client sends the same access token for its whole lifetime, so verified tokens are
        remembered (exact string -> claims) until they expire: a signature check costs ~200 µs.
        """
        cached = self._verified.get(token)
        if cached is not None:
            if cached.expires_at.timestamp() + LEEWAY_SECONDS > time.time():
                return cached
            del self._verified[token]
        claims = self._verify(token)
        if len(self._verified) >= MAX_VERIFIED_TOKENS:
            self._verified.clear()
        self._verified[token] = claims
        return claims

    def _verify(self, token: str) -> AccessClaims:
        try:
            claims = jwt.decode(
                token,
                self.public_key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": REQUIRED_CLAIMS},
            )
            user_id, session_id, roles = int(claims["sub"]), claims["sid"], claims.get("roles", [])
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise InvalidToken() from exc
        if type(session_id) is not int or not isinstance(roles, list):
            raise InvalidToken()
        expires_at = datetime.fromtimestamp(claims["exp"], UTC)
        return AccessClaims(user_id, session_id, tuple(str(r) for r in roles), expires_at)

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [self.jwk]}


def jwk_thumbprint(public_jwk: dict[str, Any]) -> str:
    """RFC 7638: SHA-256 of the required members in lexicographic order, no whitespace."""
    members = {name: public_jwk[name] for name in ("e", "kty", "n")}
    digest = hashlib.sha256(orjson.dumps(members, option=orjson.OPT_SORT_KEYS)).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def new_refresh_token() -> tuple[str, str]:
    """A fresh opaque refresh token and the hash that is all the database keeps of it."""
    raw = secrets.token_urlsafe(32)
    return raw, hash_refresh_token(raw)


def hash_refresh_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def load_key_pair(settings: Settings) -> tuple[rsa.RSAPrivateKey, rsa.RSAPublicKey]:
    """The configured key pair (PEM values or files); outside production, one generated once."""
    private_pem = _configured(
        settings.jwt_private_key.get_secret_value() if settings.jwt_private_key else None,
        settings.jwt_private_key_file,
    )
    public_pem = _configured(settings.jwt_public_key, settings.jwt_public_key_file)
    if private_pem is None:
        if settings.environment == "production":
            raise RuntimeError("JWT_PRIVATE_KEY is required in production")
        private_pem = generated_private_key(settings.data_dir)
    private_key = _parsed_private_key(private_pem)
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise RuntimeError("JWT_PRIVATE_KEY must be an RSA key")
    if public_pem is None:
        return private_key, private_key.public_key()
    public_key = serialization.load_pem_public_key(public_pem)
    if not isinstance(public_key, rsa.RSAPublicKey) or public_key.public_numbers() != (
        private_key.public_key().public_numbers()
    ):
        raise RuntimeError("JWT_PUBLIC_KEY does not belong to JWT_PRIVATE_KEY")
    return private_key, public_key


@functools.lru_cache(maxsize=4)
def _parsed_private_key(pem: bytes) -> PrivateKeyTypes:
    """A PEM private key parsed once per process: parsing checks the RSA numbers (tens of
    milliseconds), and every app built with the same key (workers, tests) shares the result."""
    return serialization.load_pem_private_key(pem, password=None)


def _configured(value: str | None, path: Path | None) -> bytes | None:
    if value:
        return value.encode()
    if path is not None:
        return path.read_bytes()
    return None


def generate_private_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def generated_private_key(data_dir: Path) -> bytes:
    """Read `<data_dir>/jwt-private.pem`, creating it (mode 0600) on first use."""
    path = data_dir / GENERATED_KEY_NAME
    if path.exists():
        return path.read_bytes()
    data_dir.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=data_dir, prefix=".jwt-", suffix=".pem")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(generate_private_pem())
        # link() fails if another process got there first: everyone then uses the same key.
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        os.unlink(temporary)
    return path.read_bytes()
