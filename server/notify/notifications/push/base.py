"""The provider interface: one message to one device token, and what came of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

# sent: delivered to the provider; retry: try again later (throttled, provider down, network);
# dead: the token is gone (disable the device); failed: refused for good, the token may live.
Outcome = Literal["sent", "retry", "dead", "failed"]


@dataclass(frozen=True, slots=True)
class PushMessage:
    title: str
    body: str
    data: dict[str, Any] = field(default_factory=dict)
    # Our id of the message (e.g. `notification:12`), a collapse/dedupe hint for providers.
    ref: str = ""


@dataclass(frozen=True, slots=True)
class PushResult:
    outcome: Outcome
    detail: str | None = None
    provider_id: str | None = None


class PushProvider(Protocol):
    name: str

    async def send(self, token: str, message: PushMessage) -> PushResult:
        """Push one message to one token; transport errors come back as `retry`."""
        ...

    async def close(self) -> None: ...


def string_data(data: dict[str, Any]) -> dict[str, str]:
    """FCM and JPush extras: string values only."""
    import json

    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}


def status_outcome(status: int) -> Outcome:
    """The usual HTTP meaning: throttled or server trouble is retried, other 4xx fail."""
    if status == 429 or status >= 500:
        return "retry"
    return "failed"
