"""The Socket.IO server and its client managers (in-memory, Redis, write-only Redis)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson
import socketio
from aiohttp import web
from engineio.async_drivers import aiohttp as eio_aiohttp

from server.settings import Settings

MAX_MESSAGE_BYTES = 64 * 1024


class OrjsonShim:
    """python-socketio's `json` interface backed by orjson (which returns bytes)."""

    @staticmethod
    def dumps(obj: Any, **_kwargs: Any) -> str:
        return orjson.dumps(obj).decode()

    @staticmethod
    def loads(data: str | bytes, **_kwargs: Any) -> Any:
        return orjson.loads(data)


class UncompressedWebSocket(eio_aiohttp.WebSocket):
    """engine.io's aiohttp websocket without permessage-deflate.

    aiohttp compresses each frame per socket by default: a zlib state per connection and a
    compression per recipient of a broadcast. Browsers and socket.io-client 3+ need neither.
    """

    async def __call__(self, environ: dict[str, Any]) -> web.WebSocketResponse:
        request = environ["aiohttp.request"]
        self._sock = web.WebSocketResponse(
            max_msg_size=self.server.max_http_buffer_size, compress=False
        )
        await self._sock.prepare(request)
        self.environ = environ
        await self.handler(self)
        return self._sock


class HoldingManager(socketio.AsyncManager):
    """The in-memory manager, able to hold a socket's user events while its recovery replays.

    A socket that reconnects with `last_event_id` joins its user room at once (so nothing
    published meanwhile is missed) but is put on hold: this process's emits to `user:<id>` rooms
    queue for it instead of going out, and the namespace sends them after the replay. Holding
    happens where each process delivers locally, after pub/sub, so events from workers and
    other instances are held too.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.held: dict[str, list[tuple[str, Any]]] = {}

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str | None = None,
        room: Any = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: Any = None,
        **kwargs: Any,
    ) -> Any:
        room = to or room
        if self.held and callback is None and isinstance(room, str) and room.startswith("user:"):
            held = [
                sid for sid, _ in self.get_participants(namespace or "/", room) if sid in self.held
            ]
            for sid in held:
                self.held[sid].append((event, data))
            if held:
                skips = skip_sid if isinstance(skip_sid, list) else [skip_sid]
                skip_sid = [s for s in skips if s is not None] + held
        return await super().emit(
            event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, **kwargs
        )

    async def send_direct(self, event: str, data: Any, sid: str, namespace: str = "/") -> None:
        """Emit to one local socket now: no pub/sub round trip, no hold."""
        await socketio.AsyncManager.emit(self, event, data, namespace, room=sid)


class RedisManager(socketio.AsyncRedisManager, HoldingManager):
    """AsyncRedisManager whose publish fails loudly, delivering locally through HoldingManager.

    The library logs and swallows a failed publish; the outbox relay would then believe the event
    was sent and delete it. Raising keeps the row for the sweep.
    """

    connected: bool

    async def _publish(self, data: Any) -> Any:
        for retries_left in (1, 0):
            try:
                if not self.connected:
                    self._redis_connect()
                return await self.redis.publish(self.channel, self.json.dumps(data))
            except Exception:
                self.connected = False
                if not retries_left:
                    raise
        return None


def client_manager(settings: Settings, *, write_only: bool = False) -> socketio.AsyncManager:
    """Redis pub/sub across instances in production, memory in the embedded mode."""
    if settings.redis_url is None:
        return HoldingManager()
    return RedisManager(
        settings.redis_url,
        channel=settings.channel("socketio"),
        write_only=write_only,
        json=OrjsonShim,
        redis_options={"socket_connect_timeout": 2, "socket_timeout": 5},
    )


def create_socket_server(settings: Settings) -> socketio.AsyncServer:
    origins: list[str] | str = settings.cors_origins
    if not origins and settings.environment != "production":
        origins = "*"  # development convenience; production refuses to start with "*"
    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        client_manager=client_manager(settings),
        json=OrjsonShim,
        cors_allowed_origins=origins,
        max_http_buffer_size=MAX_MESSAGE_BYTES,
        http_compression=False,
        ping_interval=25,
        ping_timeout=20,
    )
    sio.eio._async = {**sio.eio._async, "websocket": UncompressedWebSocket}
    return sio


async def close_socket_server(sio: socketio.AsyncServer) -> None:
    """Stop background work: engine.io's service task, the pub/sub listener and its connection."""
    await sio.shutdown()
    manager = sio.manager
    listener = getattr(manager, "thread", None)
    if isinstance(listener, asyncio.Task) and not listener.done():
        listener.cancel()
        await asyncio.wait({listener}, timeout=2)
    for client in (getattr(manager, "pubsub", None), getattr(manager, "redis", None)):
        if client is not None:
            with contextlib.suppress(Exception):
                await client.aclose()
