"""The Socket.IO server and its client managers (in-memory, Redis, write-only Redis)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import socketio
import structlog
from engineio import packet as eio_packet
from socketio import packet as sio_packet

from realtime.engine import LeanEngineServer, LeanSocket, text_frame
from realtime.streams import EVENT_ID, id_key
from server.settings import Settings

log = structlog.get_logger(__name__)

MAX_MESSAGE_BYTES = 64 * 1024
# Below any stream id (`0-0` is never an entry's id): a socket that was given nothing yet.
NO_POSITION = (-1, -1)
# The pub/sub listener's waits between attempts to subscribe again: from the first, doubling,
# at most the last. Whatever is published while it is away is replayed from the streams once it
# is back, so the sooner the better; a failed attempt against a dead Redis costs little.
RESUBSCRIBE_FIRST_WAIT = 0.05
RESUBSCRIBE_MAX_WAIT = 1.0


class OrjsonShim:
    """python-socketio's `json` interface backed by orjson (which returns bytes)."""

    @staticmethod
    def dumps(obj: Any, **_kwargs: Any) -> str:
        return orjson.dumps(obj).decode()

    @staticmethod
    def loads(data: str | bytes, **_kwargs: Any) -> Any:
        return orjson.loads(data)


def idle_transport(socket: Any) -> asyncio.Transport | None:
    """The websocket transport of an engine.io socket that a frame may be written to now.

    A LeanSocket writes every packet straight to its transport, so a frame written there now
    keeps its place. A library socket (one that upgraded from long-polling) keeps order only if
    it has nothing queued or in flight (its writer task is parked on an empty queue:
    `_unfinished_tasks` counts a packet from `put` until the writer has taken it, right before
    it writes) and nothing is buffered (the writer is not waiting for a drain). Otherwise None:
    use `socket.send`.
    """
    if isinstance(socket, LeanSocket):
        direct = socket.direct
        if direct is None or socket.closed or direct.is_closing():
            return None
        return direct
    transport = getattr(socket, "ws_transport", None)
    if (
        transport is None
        or socket.closed
        or socket.upgrading
        or not socket.upgraded
        or socket.queue._unfinished_tasks
        or transport.is_closing()
        or transport.get_write_buffer_size()
    ):
        return None
    return transport


class SocketServer(socketio.AsyncServer):
    """python-socketio's server on LeanEngineServer (realtime/engine.py)."""

    def _engineio_server_class(self) -> type[LeanEngineServer]:
        return LeanEngineServer


class HoldingManager(socketio.AsyncManager):
    """The in-memory manager, able to hold a socket's user events while its recovery replays,
    and keeping each socket's position in its user's stream.

    A socket that reconnects with `last_event_id` joins its user room at once (so nothing
    published meanwhile is missed) but is put on hold: this process's emits to `user:<id>` rooms
    queue for it instead of going out, and the namespace sends them after the replay. Holding
    happens where each process delivers locally, after pub/sub, so events from workers and
    other instances are held too.

    `positions[sid]` is the stream id (as `id_key`) of the newest user event this socket was
    given, or the stream's newest id when it connected: after a pub/sub outage the namespace
    replays each socket's stream from there. Only ever moves forward.
    """

    # Called (synchronously, before any message of the new subscription is delivered) each time
    # the pub/sub subscription is made; the namespace catches its sockets up then.
    on_subscribed: Callable[[], None] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.held: dict[str, list[tuple[str, Any]]] = {}
        self.positions: dict[str, tuple[int, int]] = {}

    def advance(self, sid: str, data: Any) -> None:
        """Move `sid`'s position to the user event `data` (an envelope) if that is newer."""
        position = event_position(data)
        if position is not None and position > self.positions.get(sid, NO_POSITION):
            self.positions[sid] = position

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
        if callback is None:
            sent = await self.broadcast(event, data, namespace or "/", room, skip_sid)
            if sent:
                return None
        return await super().emit(
            event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, **kwargs
        )

    async def broadcast(
        self, event: str, data: Any, namespace: str, room: Any, skip_sid: Any
    ) -> bool:
        """Deliver to this process's sockets in `room`: encoded once, one loop, no task each.

        Each idle websocket gets the same pre-built frame written to its transport; any other
        socket (long-polling, upgrading, or with packets queued) gets the packet through its
        engine.io queue as the library would send it. False if the library must do it (a
        binary payload, an unknown namespace).
        """
        if namespace not in self.rooms:
            return False
        args = list(data) if isinstance(data, tuple) else [] if data is None else [data]
        encoded = self.server.packet_class(
            sio_packet.EVENT, namespace=namespace, data=[event, *args]
        ).encode()
        if not isinstance(encoded, str):  # binary attachments: several engine.io packets
            return False
        message = eio_packet.Packet(eio_packet.MESSAGE, encoded)
        skips = set(skip_sid) if isinstance(skip_sid, list) else {skip_sid}
        sockets = self.server.eio.sockets
        frame: bytes | None = None
        user_event = isinstance(room, str) and room.startswith("user:")
        position = event_position(args[0]) if user_event and len(args) == 1 else None
        positions = self.positions
        for sid, eio_sid in self.get_participants(namespace, room):
            if sid in skips:
                continue
            socket = sockets.get(eio_sid)
            if socket is None:
                continue
            if position is not None and position > positions.get(sid, NO_POSITION):
                positions[sid] = position
            transport = idle_transport(socket)
            if transport is not None:
                if frame is None:
                    frame = text_frame(message.encode().encode())
                transport.write(frame)
            else:
                await socket.send(message)
        return True

    async def send_direct(self, event: str, data: Any, sid: str, namespace: str = "/") -> None:
        """Emit to one local socket now: no pub/sub round trip, no hold."""
        self.advance(sid, data)
        await socketio.AsyncManager.emit(self, event, data, namespace, room=sid)


def event_position(data: Any) -> tuple[int, int] | None:
    """The stream position of a user event's envelope; None for anything without a stream id."""
    event_id = data.get("event_id") if isinstance(data, dict) else None
    if not isinstance(event_id, str) or not EVENT_ID.match(event_id):
        return None
    return id_key(event_id)


class RedisManager(socketio.AsyncRedisManager, HoldingManager):
    """AsyncRedisManager whose publish fails loudly, whose listener comes back within a second,
    delivering locally through HoldingManager.

    The library logs and swallows a failed publish; the outbox relay would then believe the event
    was sent and delete it. Raising keeps the row for the sweep.

    The library's listener waits 1, 2, 4 ... up to 60 s between attempts to subscribe again, and
    whatever is published until it is back reaches no one on this instance. This one tries again
    within RESUBSCRIBE_MAX_WAIT, and each time Redis confirms the subscription it calls
    `on_subscribed` before delivering anything that follows it: the namespace holds its sockets'
    user events and replays their streams from their positions (what was published while the
    listener was away is in the streams; what follows the confirmation is held, then sent).
    """

    connected: bool
    listener: Any = None
    pubsub: Any

    def _redis_connect(self) -> None:
        """The commands' client (publish). The listener has its own (`_subscribe`)."""
        pubsub = self.pubsub
        super()._redis_connect()
        self.pubsub = pubsub  # the library makes one here; the listener's is kept

    async def _subscribe(self) -> None:
        """A fresh listener connection, subscribed to the channel; the previous one closed."""
        await self._close_listener()
        if self.redis is None:
            self._redis_connect()
        if self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            # The listener blocks on its subscription for as long as the channel is quiet.
            # Under the commands' socket_timeout every quiet spell longer than that failed the
            # read and dropped the subscription. Its own client reads without a timeout; TCP
            # keepalive notices a dead peer, and a closed connection fails the read at once.
            options = {**self.redis_options, "socket_keepalive": True}
            options.pop("socket_timeout", None)
            self.listener = type(self.redis).from_url(self.redis_url, **options)
        # Subscribe confirmations are read (not ignored): one marks the subscription as live.
        self.pubsub = (self.listener or self.redis).pubsub()
        await self.pubsub.subscribe(self.channel)

    async def _close_listener(self) -> None:
        clients, self.pubsub, self.listener = (self.pubsub, self.listener), None, None
        for client in clients:
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.aclose()

    async def _redis_listen_with_retries(self) -> AsyncIterator[dict[str, Any]]:
        wait = RESUBSCRIBE_FIRST_WAIT
        while True:
            try:
                await self._subscribe()
                async for message in self.pubsub.listen():
                    if message["type"] == "subscribe":
                        wait = RESUBSCRIBE_FIRST_WAIT
                        self._subscribed()
                        continue
                    yield message
            except Exception as exc:
                # Loud when the subscription is lost, quieter for each attempt while Redis is away.
                report = log.warning if wait == RESUBSCRIBE_FIRST_WAIT else log.info
                report("socket.pubsub_lost", error=repr(exc), retry_in=wait)
            await asyncio.sleep(wait)
            wait = min(wait * 2, RESUBSCRIBE_MAX_WAIT)

    def _subscribed(self) -> None:
        if self.on_subscribed is None:
            return
        try:
            self.on_subscribed()
        except Exception as exc:  # the listener must go on whatever the namespace does
            log.exception("socket.subscribed_hook_failed", error=repr(exc))

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


def socket_origins(settings: Settings) -> list[str] | str:
    """The origins engine.io accepts: the CORS allowlist, or "*" outside production only.

    Never an empty list: python-engineio reads `[]` as "do not check the Origin at all".
    """
    origins = [origin.rstrip("/") for origin in settings.cors_origins]
    origins = [origin for origin in origins if origin]
    production = settings.environment == "production"
    if production and (not origins or "*" in origins):
        raise ValueError("CORS_ORIGINS must list the allowed origins, without '*', in production")
    if not origins or "*" in origins:
        return "*"  # development convenience, when nothing (or "*") is configured
    return origins


def create_socket_server(settings: Settings) -> socketio.AsyncServer:
    sio = SocketServer(
        async_mode="aiohttp",
        client_manager=client_manager(settings),
        json=OrjsonShim,
        cors_allowed_origins=socket_origins(settings),
        max_http_buffer_size=MAX_MESSAGE_BYTES,
        http_compression=False,
        ping_interval=25,
        ping_timeout=20,
    )
    return sio


async def close_socket_server(sio: socketio.AsyncServer) -> None:
    """Stop background work: engine.io's service task, the pub/sub listener and its connection."""
    await sio.shutdown()
    manager = sio.manager
    listener = getattr(manager, "thread", None)
    if isinstance(listener, asyncio.Task) and not listener.done():
        listener.cancel()
        await asyncio.wait({listener}, timeout=2)
    clients = ("pubsub", "listener", "redis")
    for client in (getattr(manager, name, None) for name in clients):
        if client is not None:
            with contextlib.suppress(Exception):
                await client.aclose()
