"""Delivery of outbox events to Socket.IO rooms, with the contract's payload envelope."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

from server.outbox import Event


class Emitter(Protocol):
    async def emit(
        self, event: str, data: Any = None, *, room: str | None = None, namespace: str = "/"
    ) -> Any: ...


def user_room(user_id: int) -> str:
    return f"user:{user_id}"


def envelope(event_type: str, data: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    ts = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"event_id": event_id, "type": event_type, "ts": ts, "data": data}


class SocketEventSink:
    """Emits through a Socket.IO server (web) or a write-only Redis manager (workers)."""

    def __init__(self, emitter: Emitter) -> None:
        self._emitter = emitter

    async def send(self, event: Event) -> None:
        # User events are recoverable and carry an id clients de-duplicate by; room events are
        # ephemeral (`event_id` null) and refetched after a reconnect.
        payload = envelope(event.type, event.data, event.dedupe_id)
        for user_id in event.user_ids:
            await self._emitter.emit(event.type, payload, room=user_room(user_id), namespace="/")
        if event.room is not None:
            await self._emitter.emit(
                event.type, envelope(event.type, event.data), room=event.room, namespace="/"
            )
