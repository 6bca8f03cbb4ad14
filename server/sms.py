"""Text messages: a provider interface, a signed JSON-over-HTTP provider, and the log.

The HTTP provider POSTs `{"to": "<E.164>", "text": "..."}` to SMS_API_URL with
`X-Sms-Timestamp: <unix seconds>` and `X-Sms-Signature: sha256=<hex HMAC-SHA256 of
"<timestamp>." + body under SMS_API_SECRET>`, so the gateway can reject forged or replayed
requests. Any failure to hand a message over raises `SmsError`; texts are never logged except by
the development backend, because they may carry a one-time code.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Protocol

import aiohttp
import orjson
import structlog

from server.settings import Settings

log = structlog.get_logger(__name__)

TIMESTAMP_HEADER = "X-Sms-Timestamp"
SIGNATURE_HEADER = "X-Sms-Signature"


class SmsError(Exception):
    """The message could not be handed to the SMS provider."""


class SmsSender(Protocol):
    async def send(self, *, to: str, text: str) -> None:
        """Deliver a text to one E.164 number, or raise SmsError."""
        ...


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """The value of the signature header for this body sent at `timestamp`."""
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class HttpSms:
    """Posts each message to the provider's endpoint, signed with the shared secret."""

    def __init__(self, *, url: str | None, secret: bytes | None, timeout: float = 10.0) -> None:
        self.url, self.secret, self.timeout = url, secret, timeout

    async def send(self, *, to: str, text: str) -> None:
        if not self.url or not self.secret:
            log.warning("sms.not_configured")
            raise SmsError("SMS_API_URL and SMS_API_SECRET are required for SMS_BACKEND=http")
        body = orjson.dumps({"to": to, "text": text})
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signature(self.secret, timestamp, body),
        }
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout)) as http,
                http.post(self.url, data=body, headers=headers) as response,
            ):
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("sms.send_failed", error=type(exc).__name__)
            raise SmsError(str(exc)) from exc
        if not 200 <= status < 300:
            log.warning("sms.send_refused", status=status)
            raise SmsError(f"the SMS provider answered {status}")


class LogSms:
    """Development backend: records that a text went out; the text only if `reveal`."""

    def __init__(self, *, reveal: bool) -> None:
        self.reveal = reveal

    async def send(self, *, to: str, text: str) -> None:
        if self.reveal:
            log.info("sms.logged", text=text)
        else:
            log.info("sms.logged")


def sms_from_settings(settings: Settings) -> SmsSender:
    """The configured provider; the log shows texts only in development."""
    if settings.sms_backend == "log":
        return LogSms(reveal=settings.environment == "development")
    secret = settings.sms_api_secret
    return HttpSms(
        url=settings.sms_api_url,
        secret=secret.get_secret_value().encode() if secret is not None else None,
        timeout=settings.sms_timeout_seconds,
    )
