"""Real-name verification: does this name belong to this resident ID number?

One interface, two providers. `fake` (development) accepts every checksum-valid number; `http`
asks the provider at IDENTITY_VERIFY_URL. Its wire format: a POST of the JSON body
`{"app_id", "request_id", "timestamp", "name", "id_number"}` with the headers `X-App-Id`,
`X-Timestamp` and `X-Signature` = hex HMAC-SHA256 under IDENTITY_VERIFY_SECRET of
`"<timestamp>\n<raw body>"`; the answer is `{"request_id", "result": "match" | "mismatch",
"reference"}`. Anything else (a timeout, a 5xx, a malformed answer) means the provider is
unavailable. Only the verdict and the provider's reference are kept; never the inputs.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import aiohttp
import orjson

from server.http.errors import ServiceUnavailable
from server.settings import Settings

Result = Literal["match", "mismatch"]


class IdentityUnavailable(ServiceUnavailable):
    code, message = (
        "creators.identity_unavailable",
        "Identity verification is unavailable; retry later.",
    )


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the provider said, and its reference for the check (no personal data)."""

    result: Result
    provider: str
    reference: str

    @property
    def matched(self) -> bool:
        return self.result == "match"


class IdentityVerifier(Protocol):
    async def verify(self, *, name: str, id_number: str) -> Verdict:
        """Match the name against the (already checksum-valid) ID number; IdentityUnavailable
        if the provider cannot answer."""
        ...


class FakeIdentityVerifier:
    """Development: every checksum-valid number matches whatever the name."""

    async def verify(self, *, name: str, id_number: str) -> Verdict:
        return Verdict("match", "fake", f"fake-{secrets.token_hex(8)}")


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """The request signature both sides compute."""
    return hmac.new(secret, timestamp.encode() + b"\n" + body, hashlib.sha256).hexdigest()


class HttpIdentityVerifier:
    """A provider speaking the signed JSON protocol above."""

    def __init__(self, *, url: str, app_id: str, secret: bytes, timeout: float) -> None:
        self.url = url
        self.app_id = app_id
        self.secret = secret
        self.timeout = aiohttp.ClientTimeout(total=timeout)

    async def verify(self, *, name: str, id_number: str) -> Verdict:
        request_id = secrets.token_hex(16)
        timestamp = str(int(time.time()))
        body = orjson.dumps(
            {
                "app_id": self.app_id,
                "request_id": request_id,
                "timestamp": timestamp,
                "name": name,
                "id_number": id_number,
            }
        )
        headers = {
            "Content-Type": "application/json",
            "X-App-Id": self.app_id,
            "X-Timestamp": timestamp,
            "X-Signature": signature(self.secret, timestamp, body),
        }
        try:
            async with (
                aiohttp.ClientSession(timeout=self.timeout) as client,
                client.post(self.url, data=body, headers=headers) as response,
            ):
                if response.status != 200:
                    raise IdentityUnavailable()
                answer = orjson.loads(await response.read())
        except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError) as exc:
            raise IdentityUnavailable() from exc
        return self._verdict(answer, request_id)

    @staticmethod
    def _verdict(answer: Any, request_id: str) -> Verdict:
        if not isinstance(answer, dict) or answer.get("request_id") != request_id:
            raise IdentityUnavailable()
        result, reference = answer.get("result"), answer.get("reference")
        if result not in ("match", "mismatch") or not isinstance(reference, str):
            raise IdentityUnavailable()
        return Verdict(result, "http", reference[:128])


def verifier_from_settings(settings: Settings) -> IdentityVerifier:
    """The configured provider; `http` without a URL or a secret is a configuration error."""
    if settings.identity_verify_provider == "fake":
        if settings.environment == "production":
            raise RuntimeError("the fake identity provider is not for production")
        return FakeIdentityVerifier()
    if not settings.identity_verify_url or settings.identity_verify_secret is None:
        raise RuntimeError("IDENTITY_VERIFY_URL and IDENTITY_VERIFY_SECRET are required")
    return HttpIdentityVerifier(
        url=settings.identity_verify_url,
        app_id=settings.identity_verify_app_id,
        secret=settings.identity_verify_secret.get_secret_value().encode(),
        timeout=settings.identity_verify_timeout_seconds,
    )
