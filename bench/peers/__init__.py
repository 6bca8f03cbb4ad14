"""Peer servers the benchmarks compare ours with; each module is a script taking ``--port``.

Run them from the repository root: ``python -m bench.peers.floor_aiohttp --port 8081``.
"""

from __future__ import annotations

import datetime as dt

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def meta_payload() -> dict[str, object]:
    """The same small dict as our ``GET /api/v1/meta``, built per request like ours."""
    return {
        "name": "ShareStack",
        "version": "0.1.0",
        "mode": "services",
        "environment": "production",
        "time": dt.datetime.now(dt.UTC),
    }


def load_public_key(pem: bytes) -> rsa.RSAPublicKey:
    """A key object, as ours passes to PyJWT: the PEM is not parsed again per request."""
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, rsa.RSAPublicKey):
        raise SystemExit("JWT_PUBLIC_KEY_FILE must hold an RSA public key")
    return key
