"""Delivery of outbox events to Socket.IO rooms, with the contract's payload envelope."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

from realtime.rooms import user_room
from realtime.streams import EventStreams
from server.outbox import Event

__all__ = ["Emitter", "SocketEventSink", "envelope", "user_room", "utc_now"]


class Emitter(Protocol):
    async def emit(
        self, event: str, data: Any = None, *, room: str | None = None, namespace: str = "/"
    ) -> Any: ...


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def envelope(
    event_type: str, data: dict[str, Any], event_id: str | None = None, ts: str | None = None
) -> dict[str, Any]:
    return {"event_id": event_id, "type": event_type, "ts": ts or utc_now(), "data": data}


class SocketEventSink:
    """Emits through a Socket.IO server (web) or a write-only Redis manager (workers).

    User events are first appended to each recipient's stream (once per outbox row, however
    often the outbox sends it), whose entry id becomes the envelope's `event_id`; then they go
    to `user:<id>`. Room events are ephemeral: `event_id` null. Without `streams` (a caller
    that predates them) user events carry the outbox row's dedupe id and are not recoverable.
    """

    def __init__(self, emitter: Emitter, streams: EventStreams | None = None) -> None:
        self._emitter = emitter
        self.streams = streams

    async def send(self, event: Event) -> None:
        ts = utc_now()
        for user_id in event.user_ids:
            if self.streams is not None:
                event_id: str | None = await self.streams.append(
                    user_id, event.type, event.data, ts=ts, dedupe_id=event.dedupe_id
                )
            else:
                event_id = event.dedupe_id
            payload = envelope(event.type, event.data, event_id, ts)
            await self._emitter.emit(event.type, payload, room=user_room(user_id), namespace="/")
        if event.room is not None:
            await self._emitter.emit(
                event.type,
                envelope(event.type, event.data, None, ts),
                room=event.room,
                namespace="/",
            )
