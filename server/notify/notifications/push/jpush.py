"""JPush (极光推送) v3: `POST /v3/push` with Basic auth `appKey:masterSecret`."""

from __future__ import annotations

from typing import Any

import aiohttp

from server.notify.notifications.push.base import (
    PushMessage,
    PushResult,
    status_outcome,
    string_data,
)

# 1011: no target found for the audience (the registration id is unknown or gone).
DEAD_CODES = {1011}
# Server busy / internal error / rate limited.
RETRY_CODES = {1000, 1030, 2002, 2008}


class JPushProvider:
    name = "jpush"

    def __init__(
        self,
        *,
        app_key: str,
        master_secret: str,
        base_url: str,
        apns_production: bool,
        timeout: float,
    ) -> None:
        self.authorization = aiohttp.encode_basic_auth(app_key, master_secret)
        self.base_url = base_url.rstrip("/")
        self.apns_production = apns_production
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout))

    def payload(self, token: str, message: PushMessage) -> dict[str, Any]:
        extras = string_data(message.data)
        return {
            "platform": "all",
            "audience": {"registration_id": [token]},
            "notification": {
                "alert": message.body or message.title,
                "android": {"title": message.title, "alert": message.body, "extras": extras},
                "ios": {
                    "alert": {"title": message.title, "body": message.body},
                    "sound": "default",
                    "extras": extras,
                },
            },
            "options": {"apns_production": self.apns_production, "time_to_live": 86400},
        }

    async def send(self, token: str, message: PushMessage) -> PushResult:
        try:
            async with self.http.post(
                f"{self.base_url}/v3/push",
                json=self.payload(token, message),
                headers={"Authorization": self.authorization},
            ) as response:
                status = response.status
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            return PushResult("retry", f"transport: {type(exc).__name__}")
        if status == 200:
            return PushResult("sent", provider_id=str(body.get("msg_id")))
        error = body.get("error") if isinstance(body, dict) else None
        code = error.get("code") if isinstance(error, dict) else None
        if code in DEAD_CODES:
            return PushResult("dead", f"jpush {code}")
        if code in RETRY_CODES:
            return PushResult("retry", f"jpush {code}")
        return PushResult(status_outcome(status), f"jpush {code or status}")

    async def close(self) -> None:
        await self.http.close()
