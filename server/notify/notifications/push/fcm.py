"""Firebase Cloud Messaging HTTP v1 with a service account.

The service account signs a JWT (RS256, scope firebase.messaging, audience the token URL) and
exchanges it for an OAuth2 access token (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`);
messages go to `POST /v1/projects/<id>/messages:send` with that bearer token.
"""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import jwt

from server.notify.notifications.push.base import (
    PushMessage,
    PushResult,
    status_outcome,
    string_data,
)

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# Access tokens by (token URL, service account), reused across jobs until a minute before expiry.
_access: dict[tuple[str, str], tuple[str, float]] = {}


class FcmProvider:
    name = "fcm"

    def __init__(
        self,
        *,
        project_id: str,
        client_email: str,
        private_key: str,
        token_url: str,
        base_url: str,
        timeout: float,
    ) -> None:
        self.project_id, self.client_email, self.private_key = project_id, client_email, private_key
        self.token_url = token_url
        self.base_url = base_url.rstrip("/")
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout))

    def assertion(self, now: float) -> str:
        claims = {
            "iss": self.client_email,
            "sub": self.client_email,
            "scope": SCOPE,
            "aud": self.token_url,
            "iat": int(now),
            "exp": int(now) + 3600,
        }
        return jwt.encode(claims, self.private_key, algorithm="RS256")

    async def access_token(self) -> str:
        """A cached access token, renewed a minute before it expires."""
        now = time.time()
        cached = _access.get((self.token_url, self.client_email))
        if cached is not None and cached[1] > now + 60:
            return cached[0]
        form = {"grant_type": GRANT, "assertion": self.assertion(now)}
        async with self.http.post(self.token_url, data=form) as response:
            body = await response.json(content_type=None)
            if response.status != 200:
                raise aiohttp.ClientResponseError(
                    response.request_info, (), status=response.status, message=str(body)
                )
        token = str(body["access_token"])
        _access[(self.token_url, self.client_email)] = (
            token,
            now + float(body.get("expires_in", 3600)),
        )
        return token

    def payload(self, token: str, message: PushMessage) -> dict[str, Any]:
        return {
            "message": {
                "token": token,
                "notification": {"title": message.title, "body": message.body},
                "data": string_data(message.data),
            }
        }

    async def send(self, token: str, message: PushMessage) -> PushResult:
        url = f"{self.base_url}/v1/projects/{self.project_id}/messages:send"
        for _ in range(2):  # once more with a new access token after a 401
            try:
                headers = {"Authorization": f"Bearer {await self.access_token()}"}
                async with self.http.post(
                    url, json=self.payload(token, message), headers=headers
                ) as response:
                    status = response.status
                    body = await response.json(content_type=None)
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                return PushResult("retry", f"transport: {type(exc).__name__}")
            if status == 200:
                return PushResult("sent", provider_id=str(body.get("name")))
            code = _error_code(body)
            if status == 401:
                _access.pop((self.token_url, self.client_email), None)
                continue
            if status == 404 or code == "UNREGISTERED":
                return PushResult("dead", code or "NOT_FOUND")
            return PushResult(status_outcome(status), code or f"http {status}")
        return PushResult("retry", "unauthorised")

    async def close(self) -> None:
        await self.http.close()


def _error_code(body: Any) -> str | None:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None
    for detail in error.get("details") or []:
        if isinstance(detail, dict) and detail.get("errorCode"):
            return str(detail["errorCode"])
    return str(error.get("status")) if error.get("status") else None
