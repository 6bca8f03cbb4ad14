"""Delivery of outbox events to Socket.IO rooms, with the contract's payload envelope."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from socketio.async_pubsub_manager import AsyncPubSubManager

from realtime.rooms import user_room
from realtime.streams import Append, EventStreams, RedisEventStreams
from server.outbox import Event

__all__ = ["Emitter", "SocketEventSink", "envelope", "pubsub_channel", "user_room", "utc_now"]


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


def pubsub_channel(emitter: Any) -> str | None:
    """The Redis channel an emitter (a Socket.IO server or a manager) publishes on, if any."""
    manager = getattr(emitter, "manager", emitter)
    if isinstance(manager, AsyncPubSubManager):
        return str(manager.channel)
    return None


class SocketEventSink:
    """Emits through a Socket.IO server (web) or a write-only Redis manager (workers).

    User events are first appended to each recipient's stream (once per outbox row, however
    often the outbox sends it), whose entry id becomes the envelope's `event_id`; then they go
    to `user:<id>`, so that each user's sockets get them in stream order:

    - with Redis streams and a Redis manager, the append script publishes the emit itself
      (RedisEventStreams.append explains why one step), and every instance, this one
      included, delivers it from its subscription;
    - otherwise (the embedded mode: one process, streams in memory) append and emit run under
      one lock, so concurrent sends cannot swap places between the two.

    Room events are ephemeral: `event_id` null. Without `streams` (a caller that predates them)
    user events carry the outbox row's dedupe id and are not recoverable.
    """

    def __init__(self, emitter: Emitter, streams: EventStreams | None = None) -> None:
        self._emitter = emitter
        self.streams = streams
        channel = pubsub_channel(emitter)
        self._channel = channel if isinstance(streams, RedisEventStreams) else None
        self._in_order = asyncio.Lock()

    async def send(self, event: Event) -> None:
        ts = utc_now()
        for user_id in event.user_ids:
            await self._send_to_user(user_id, event, ts)
        if event.room is not None:
            await self._emitter.emit(
                event.type,
                envelope(event.type, event.data, None, ts),
                room=event.room,
                namespace="/",
            )

    async def send_many(self, events: Sequence[Event]) -> None:
        """`send` each, in order; user events through Redis streams in one round trip."""
        if self._channel is None or any(event.room is not None for event in events):
            for event in events:
                await self.send(event)
            return
        assert isinstance(self.streams, RedisEventStreams)
        ts = utc_now()
        await self.streams.append_many(
            [
                Append(user_id, event.type, event.data, ts, event.dedupe_id, self._channel)
                for event in events
                for user_id in event.user_ids
            ]
        )

    async def _send_to_user(self, user_id: int, event: Event, ts: str) -> None:
        streams, room = self.streams, user_room(user_id)
        if self._channel is not None:
            assert isinstance(streams, RedisEventStreams)
            await streams.append(
                user_id,
                event.type,
                event.data,
                ts=ts,
                dedupe_id=event.dedupe_id,
                channel=self._channel,
            )
            return
        if streams is None:
            payload = envelope(event.type, event.data, event.dedupe_id, ts)
            await self._emitter.emit(event.type, payload, room=room, namespace="/")
            return
        async with self._in_order:
            event_id = await streams.append(
                user_id, event.type, event.data, ts=ts, dedupe_id=event.dedupe_id
            )
            payload = envelope(event.type, event.data, event_id, ts)
            await self._emitter.emit(event.type, payload, room=room, namespace="/")
