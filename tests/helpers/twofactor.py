"""A clock that stands still for the two-factor tests, and TOTP codes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
from aiohttp.test_utils import TestClient

from server.clock import Clock
from server.keys import RUNTIME
from tests.helpers.auth import bearer


class FrozenClock(Clock):
    """Stands still until moved, so a test knows which TOTP step the server is in."""

    def __init__(self) -> None:
        # The start of a 30 s step, two minutes back: moving it on by a few steps keeps it in
        # the past, so the tokens issued stay valid (a token issued in the future is not).
        start = datetime.now(UTC).replace(microsecond=0)
        self.at = start - timedelta(seconds=start.second % 30 + 120)

    def now(self) -> datetime:
        return self.at

    def move(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


def freeze(api: TestClient) -> FrozenClock:
    """Give the app's runtime a frozen clock."""
    frozen = FrozenClock()
    api.app[RUNTIME].clock = frozen
    return frozen


def totp_code(secret: str, clock: FrozenClock, steps: int = 0) -> str:
    totp = pyotp.TOTP(secret)
    return totp.generate_otp(totp.timecode(clock.now()) + steps)


async def enable_two_factor(
    api: TestClient, token: str, clock: FrozenClock
) -> tuple[str, list[str]]:
    """Set up and enable TOTP for the token's user; (secret, recovery codes). Uses this step."""
    setup = await api.post("/api/v1/me/2fa/totp/setup", headers=bearer(token))
    assert setup.status == 200, await setup.text()
    secret = (await setup.json())["secret"]
    enabled = await api.post(
        "/api/v1/me/2fa/totp/enable",
        json={"code": totp_code(secret, clock)},
        headers=bearer(token),
    )
    assert enabled.status == 200, await enabled.text()
    return secret, (await enabled.json())["recovery_codes"]


async def verify(api: TestClient, challenge: str, code: str) -> Any:
    return await api.post("/api/v1/auth/2fa/verify", json={"challenge": challenge, "code": code})
