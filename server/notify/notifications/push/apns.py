"""Apple Push Notification service: token-based auth (ES256 provider JWT) over HTTP/2.

`POST /3/device/<token>` with `authorization: bearer <jwt>`, `apns-topic` (the bundle id) and
`apns-push-type: alert`. APNs only speaks HTTP/2: httpx with h2 (ALPN on https; prior
knowledge on a plain http:// base URL, which only a local test server uses).
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import jwt
import orjson

from server.notify.notifications.push.base import PushMessage, PushResult, status_outcome

# APNs refuses provider tokens older than an hour and throttles refreshing more often than
# every 20 minutes: one token per key, reused for 50 minutes, across jobs.
TOKEN_LIFETIME = 50 * 60
_tokens: dict[tuple[str, str], tuple[str, float]] = {}
# Reasons meaning the device token will never work again.
DEAD_REASONS = {"Unregistered", "BadDeviceToken", "DeviceTokenNotForTopic"}


def provider_token(*, key_id: str, team_id: str, private_key: str, now: float) -> str:
    """The cached ES256 provider JWT (`kid` = key id, `iss` = team id, `iat`)."""
    cached = _tokens.get((key_id, team_id))
    if cached is not None and now - cached[1] < TOKEN_LIFETIME:
        return cached[0]
    token = jwt.encode(
        {"iss": team_id, "iat": int(now)}, private_key, algorithm="ES256", headers={"kid": key_id}
    )
    _tokens[(key_id, team_id)] = (token, now)
    return token


def forget_token(key_id: str, team_id: str) -> None:
    _tokens.pop((key_id, team_id), None)


class ApnsProvider:
    name = "apns"

    def __init__(
        self,
        *,
        key_id: str,
        team_id: str,
        private_key: str,
        topic: str,
        base_url: str,
        timeout: float,
    ) -> None:
        self.key_id, self.team_id, self.private_key = key_id, team_id, private_key
        self.topic = topic
        self.base_url = base_url.rstrip("/")
        plain = self.base_url.startswith("http://")
        self.client = httpx.AsyncClient(http2=True, http1=not plain, timeout=timeout)

    def payload(self, message: PushMessage) -> bytes:
        aps = {"alert": {"title": message.title, "body": message.body}, "sound": "default"}
        return orjson.dumps({**message.data, "aps": aps})

    async def send(self, token: str, message: PushMessage) -> PushResult:
        for _ in range(2):  # once more with a fresh provider token if APNs says it expired
            bearer = provider_token(
                key_id=self.key_id,
                team_id=self.team_id,
                private_key=self.private_key,
                now=time.time(),
            )
            headers = {
                "authorization": f"bearer {bearer}",
                "apns-topic": self.topic,
                "apns-push-type": "alert",
                "apns-priority": "10",
            }
            try:
                response = await self.client.post(
                    f"{self.base_url}/3/device/{token}",
                    content=self.payload(message),
                    headers=headers,
                )
            except httpx.HTTPError as exc:
                return PushResult("retry", f"transport: {type(exc).__name__}")
            if response.status_code == 200:
                return PushResult("sent", provider_id=response.headers.get("apns-id"))
            reason = _reason(response)
            if response.status_code == 403 and reason == "ExpiredProviderToken":
                forget_token(self.key_id, self.team_id)
                continue
            if response.status_code == 410 or reason in DEAD_REASONS:
                return PushResult("dead", reason)
            return PushResult(status_outcome(response.status_code), reason)
        return PushResult("retry", "ExpiredProviderToken")

    async def close(self) -> None:
        await self.client.aclose()


def _reason(response: httpx.Response) -> str:
    try:
        body: Any = response.json()
    except ValueError:
        return f"http {response.status_code}"
    return str(body.get("reason") or f"http {response.status_code}")
