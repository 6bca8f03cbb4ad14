"""Access tokens: only our RS256 signature, issuer and audience pass (QUALITY item 9)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

import jwt
import orjson
import pytest
from cryptography.hazmat.primitives import serialization

from server.identity.auth.tokens import generate_private_pem, jwk_thumbprint
from server.keys import TOKENS
from tests.helpers.auth import bearer, error_code, register


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict[str, Any], claims: dict[str, Any], key: bytes = b"") -> str:
    signing_input = f"{b64(orjson.dumps(header))}.{b64(orjson.dumps(claims))}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest() if key else b""
    return f"{signing_input}.{b64(signature)}"


@pytest.fixture
async def signed_in(api) -> dict[str, Any]:
    data = await register(api)
    claims = jwt.decode(data["access_token"], options={"verify_signature": False})
    return {"data": data, "claims": claims, "private": api.app[TOKENS]._private_key}


async def rejected(api, token: str) -> str:
    response = await api.get("/api/v1/me", headers=bearer(token))
    assert response.status == 401, await response.text()
    return await error_code(response)


async def test_access_token_carries_the_contracted_claims(signed_in) -> None:
    claims = signed_in["claims"]
    assert claims["iss"] == "sharestack"
    assert claims["aud"] == "sharestack-api"
    assert claims["sub"] == str(signed_in["data"]["user"]["id"])
    assert isinstance(claims["sid"], int)
    assert claims["roles"] == ["reader"]
    assert claims["exp"] - claims["iat"] == 900
    assert claims["jti"]
    header = jwt.get_unverified_header(signed_in["data"]["access_token"])
    assert header["alg"] == "RS256"


async def test_alg_none_is_rejected(api, signed_in) -> None:
    token = forge({"alg": "none", "typ": "JWT"}, signed_in["claims"])
    assert await rejected(api, token) == "auth.invalid_token"


async def test_hs256_signed_with_the_public_key_is_rejected(api, signed_in) -> None:
    public_pem = api.app[TOKENS].public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    token = forge({"alg": "HS256", "typ": "JWT"}, signed_in["claims"], key=public_pem)
    assert await rejected(api, token) == "auth.invalid_token"


def resign(signed_in: dict[str, Any], key: Any = None, **changes: Any) -> str:
    claims = {**signed_in["claims"], **changes}
    claims = {name: value for name, value in claims.items() if value is not None}
    return jwt.encode(claims, key or signed_in["private"], algorithm="RS256")


async def test_expired_token_is_rejected(api, signed_in) -> None:
    now = int(time.time())
    token = resign(signed_in, iat=now - 1000, exp=now - 60)
    assert await rejected(api, token) == "auth.invalid_token"


async def test_tampered_payload_is_rejected(api, signed_in) -> None:
    header, _, signature = signed_in["data"]["access_token"].split(".")
    claims = {**signed_in["claims"], "roles": ["admin"]}
    token = f"{header}.{b64(orjson.dumps(claims))}.{signature}"
    assert await rejected(api, token) == "auth.invalid_token"


async def test_token_signed_by_another_key_is_rejected(api, signed_in) -> None:
    other = serialization.load_pem_private_key(generate_private_pem(), password=None)
    assert await rejected(api, resign(signed_in, key=other)) == "auth.invalid_token"


@pytest.mark.parametrize(
    "changes",
    [
        {"iss": "someone-else"},
        {"aud": "another-api"},
        {"sid": None},
        {"sub": None},
        {"exp": None},
        {"iat": None},
        {"sid": "1"},
        {"sub": "ann"},
        {"roles": "admin"},
    ],
    ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()),
)
async def test_wrong_or_missing_claims_are_rejected(api, signed_in, changes) -> None:
    assert await rejected(api, resign(signed_in, **changes)) == "auth.invalid_token"


async def test_token_naming_another_users_session_is_rejected(api, signed_in) -> None:
    other = await register(api, email="bob@example.com")
    token = resign(signed_in, sub=str(other["user"]["id"]))
    assert await rejected(api, token) == "auth.invalid_token"


async def test_token_naming_an_unknown_session_is_rejected(api, signed_in) -> None:
    assert await rejected(api, resign(signed_in, sid=10**12)) == "auth.invalid_token"


@pytest.mark.parametrize(
    "value", ["Bearer garbage", "Bearer a.b.c", "Bearer ", "Basic YTpi", "token"]
)
async def test_garbage_authorization_is_401(api, value) -> None:
    response = await api.get("/api/v1/me", headers={"Authorization": value})
    assert response.status == 401
    assert (await error_code(response)).startswith("auth.")


async def test_missing_authorization_is_401(api) -> None:
    response = await api.get("/api/v1/me")
    assert response.status == 401


async def test_jwks_publishes_the_key_that_verifies_our_tokens(api, signed_in) -> None:
    response = await api.get("/.well-known/jwks.json")
    assert response.status == 200
    (jwk,) = (await response.json())["keys"]
    assert jwk["kty"] == "RSA"
    assert jwk["alg"] == "RS256"
    assert jwk["use"] == "sig"
    assert jwk["kid"] == jwk_thumbprint(jwk)
    token = signed_in["data"]["access_token"]
    assert jwt.get_unverified_header(token)["kid"] == jwk["kid"]
    key = jwt.PyJWK(jwk).key
    claims = jwt.decode(
        token, key, algorithms=["RS256"], audience="sharestack-api", issuer="sharestack"
    )
    assert claims["sub"] == str(signed_in["data"]["user"]["id"])


def test_jwk_thumbprint_matches_the_rfc_7638_example() -> None:
    jwk = {
        "kty": "RSA",
        "n": (
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1"
            "L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4"
            "QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbO"
            "pbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csF"
            "Cur-kEgU8awapJzKnqDKgw"
        ),
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


async def test_verify_introspects_the_bearer_token(api, signed_in) -> None:
    response = await api.get(
        "/api/v1/auth/verify", headers=bearer(signed_in["data"]["access_token"])
    )
    assert response.status == 200
    body = await response.json()
    assert body["active"] is True
    assert body["user_id"] == signed_in["data"]["user"]["id"]
    assert body["session_id"] == signed_in["claims"]["sid"]
    assert body["roles"] == ["reader"]
    assert body["expires_at"].endswith("Z")


async def test_verify_with_an_invalid_token_is_401(api) -> None:
    response = await api.get("/api/v1/auth/verify", headers=bearer("nope"))
    assert response.status == 401
