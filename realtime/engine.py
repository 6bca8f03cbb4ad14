"""Engine.IO for websocket clients without a task, a queue or a timer per socket.

python-engineio (4.15) gives each websocket socket an asyncio.Queue (four deques, ~3.5 KB), a
writer task parked on it, a reader task plus a `wait_for` timer for every receive, and a task
sleeping until its next ping: five tasks with their frames, futures and timers, about a third
of what an idle connection cost us (B7). A socket that connects with the websocket transport
gets a LeanSocket instead:

- Sending writes the packet's frame straight to the socket's transport, in the order of the
  calls, and never waits for the peer (as before: packets queued ahead of the writer). A slow
  client's backlog sits in the transport's buffer instead of the queue.
- Receiving runs in the request's own handler task, with no timeout per read: a silent peer is
  found by the ping it does not answer (the service task's `check_ping_timeout`, as before).
- Pings come from one Pinger task per server: every socket has the same interval, so a FIFO of
  due times is already in order.
- Closing writes the CLOSE packet and a websocket close frame, then closes the transport once
  its buffer is out; the reader sees the end and the handler returns.

Long-polling clients, and those that upgrade from long-polling to websocket, keep the library's
AsyncSocket (with UncompressedWebSocket for the upgrade), as does any request that the fast path
in LeanEngineServer.handle_request leaves to the library. The protocol on the wire is unchanged
(OPEN with the same fields, PING every `ping_interval`, PONG re-arms it, CLOSE on a server
disconnect).

Written against python-engineio 4.15 (AsyncServer.handle_request and _handle_connect, the
attributes of BaseSocket, AsyncSocket's close/receive/check_ping_timeout) and aiohttp 3.14;
tests/realtime/test_engine.py checks the parts that would drift.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import sys
import time
import urllib.parse
from collections import deque
from typing import Any

import engineio
from aiohttp import web
from engineio import exceptions as eio_exceptions
from engineio import packet as eio_packet
from engineio.async_drivers import aiohttp as eio_aiohttp
from engineio.async_socket import AsyncSocket

log = logging.getLogger(__name__)

TEXT, BINARY = 0x1, 0x2
# Pings sent before the pinger lets other callbacks run (a ping writes one small frame).
PINGS_PER_TURN = 256
# A websocket close frame with status 1000 (normal closure), as a server sends it (unmasked).
CLOSE_FRAME = b"\x88\x02\x03\xe8"


def ws_frame(payload: bytes, opcode: int = TEXT) -> bytes:
    """One final, unmasked, uncompressed websocket frame, as aiohttp's writer sends it."""
    size = len(payload)
    first = 0x80 | opcode
    if size < 126:
        return struct.pack("!BB", first, size) + payload
    if size < 1 << 16:
        return struct.pack("!BBH", first, 126, size) + payload
    return struct.pack("!BBQ", first, 127, size) + payload


def text_frame(payload: bytes) -> bytes:
    return ws_frame(payload, TEXT)


def packet_frame(pkt: eio_packet.Packet) -> bytes:
    """The websocket frame of an engine.io packet: text, or binary for a binary message."""
    encoded = pkt.encode()
    if isinstance(encoded, str):
        return ws_frame(encoded.encode(), TEXT)
    return ws_frame(bytes(encoded), BINARY)


def translate_request(request: web.Request) -> dict[str, Any]:
    """engine.io's WSGI-style environ of an aiohttp request, with its `HTTP_*` keys interned.

    The environ lives as long as the connection (python-socketio keeps it for `get_environ`),
    and the library spells a fresh key string for every header of every request; interned,
    all connections share one copy of each name.
    """
    return {sys.intern(key): value for key, value in eio_aiohttp.translate_request(request).items()}


class UncompressedWebSocket(eio_aiohttp.WebSocket):
    """engine.io's aiohttp websocket without permessage-deflate, for sockets that upgrade from
    long-polling (LeanSocket accepts its own websocket, also uncompressed).

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
        # The engine.io socket this websocket serves: broadcasts may write to its transport.
        owner = getattr(self.handler, "__self__", None)
        if owner is not None:
            owner.ws_transport = request.transport
        try:
            await self.handler(self)
        finally:
            if owner is not None:
                owner.ws_transport = None
        return self._sock


class LeanSocket(AsyncSocket):
    """An engine.io socket that connected with the websocket transport (see the module doc)."""

    def __init__(self, server: LeanEngineServer, sid: str) -> None:
        # BaseSocket.__init__ without the queue: nothing here needs one unless asked for.
        self.server = server
        self.sid = sid
        self._queue: asyncio.Queue[Any] | None = None
        self.last_ping: float | None = time.time()
        self.connected = False
        self.upgrading = False
        self.upgraded = False
        self.closing = False
        self.closed = False
        self.session: dict[str, Any] = {}
        # The websocket's transport while this socket reads from it; packets sent before it
        # is ready wait in `pending` (the OPEN packet, at least).
        self.direct: asyncio.Transport | None = None
        self.pending: list[eio_packet.Packet] | None = []

    @property
    def queue(self) -> asyncio.Queue[Any]:
        """The library's packet queue, made on first use only (nothing here uses it)."""
        if self._queue is None:
            self._queue = self.server.create_queue()
        return self._queue

    async def send(self, pkt: eio_packet.Packet) -> None:
        if not await self.check_ping_timeout():
            return
        transport = self.direct
        if transport is not None:
            if not transport.is_closing():
                transport.write(packet_frame(pkt))
        elif self.pending is not None:
            self.pending.append(pkt)
        else:  # the websocket is gone and the socket not yet closed: as the library would
            await self.queue.put(pkt)

    def schedule_ping(self) -> None:
        # Only once the previous ping was answered (or at connect), as the library does.
        if self.last_ping:
            self.last_ping = None
            self.server.pinger.schedule(self)

    async def ping(self) -> None:
        if not self.closing and not self.closed:
            self.last_ping = time.time()
            await self.send(eio_packet.Packet(eio_packet.PING))

    async def close(self, wait: bool = True, abort: bool = False, reason: Any = None) -> None:
        transport = self.direct
        if transport is None:
            # Not reading (any more): the library's close, without waiting on a queue that
            # nothing fills.
            await super().close(wait=wait and self._queue is not None, abort=abort, reason=reason)
            return
        if self.closed or self.closing:
            return
        self.closing = True
        await self.server._trigger_event(
            "disconnect", self.sid, reason or self.server.reason.SERVER_DISCONNECT, run_async=False
        )
        self.closed = True
        if not transport.is_closing():
            if not abort:
                transport.write(packet_frame(eio_packet.Packet(eio_packet.CLOSE)))
            transport.write(CLOSE_FRAME)
            transport.close()  # after the buffer is written; the reader then sees EOF

    async def serve(self, environ: dict[str, Any]) -> web.WebSocketResponse:
        """Accept the websocket and read it until it ends, in the request's handler task.

        AsyncSocket.handle_get_request, _upgrade_websocket, the websocket wrapper and
        _websocket_handler in one frame: each suspended coroutine in the chain stays allocated
        for the life of the connection. Writing needs no task (see `send`).
        """
        sock = web.WebSocketResponse(max_msg_size=self.server.max_http_buffer_size, compress=False)
        try:
            await sock.prepare(environ["aiohttp.request"])
        except BaseException:
            await self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_ERROR)
            raise
        transport = environ["aiohttp.request"].transport
        pending, self.pending = self.pending or [], None
        if transport is None or transport.is_closing():
            await self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_CLOSE)
            return sock
        self.connected = self.upgraded = True
        self.direct = transport
        for pkt in pending:
            transport.write(packet_frame(pkt))
        del pending
        self.server.logger.info("%s: Upgrade to websocket successful", self.sid)
        receive = sock.receive
        limit = self.server.max_http_buffer_size
        try:
            while True:
                message = await receive()
                data = message.data
                # Drop references before waiting again: an idle socket keeps no packet.
                del message
                if not isinstance(data, str | bytes):
                    break  # closed, closing or failed
                if data and len(data) > limit:
                    break
                pkt = eio_packet.Packet(encoded_packet=data)
                del data
                try:
                    await self.receive(pkt)
                except eio_exceptions.UnknownPacketError:
                    pass
                except eio_exceptions.SocketIsClosedError:
                    break
                except Exception:
                    self.server.logger.exception("Unknown receive error")
                del pkt
        finally:
            self.direct = None
            if not transport.is_closing():
                transport.write(CLOSE_FRAME)
                transport.close()
            await self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_CLOSE)
        return sock


class Pinger:
    """Sends each scheduled socket its PING `interval` seconds later, from one task.

    All sockets of a server share the interval, so the order sockets are scheduled in is the
    order their pings fall due: a FIFO of (due, socket) pairs replaces a sleeping task each.
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._due: deque[tuple[float, LeanSocket]] = deque()
        self._task: asyncio.Task[None] | None = None
        self._wakeup: asyncio.Future[None] | None = None

    def __len__(self) -> int:
        return len(self._due)

    def schedule(self, socket: LeanSocket) -> None:
        loop = asyncio.get_running_loop()
        self._due.append((loop.time() + self.interval, socket))
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run(), name="engineio-pinger")
        elif self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        due = self._due
        sent = 0
        while True:
            if not due:
                self._wakeup = loop.create_future()
                try:
                    await self._wakeup
                finally:
                    self._wakeup = None
                continue
            delay = due[0][0] - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
                continue
            _, socket = due.popleft()
            try:
                await socket.ping()
            except Exception:
                log.exception("engineio.ping_failed")
            sent += 1
            if sent % PINGS_PER_TURN == 0:
                await asyncio.sleep(0)  # a burst of due pings must not hold up the loop

    async def stop(self) -> None:
        task, self._task = self._task, None
        self._due.clear()
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class LeanEngineServer(engineio.AsyncServer):
    """engine.io's server handing websocket connections to LeanSocket, without deflate."""

    _async: dict[str, Any]
    start_service_task: bool

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._async = {
            **self._async,
            "translate_request": translate_request,
            "websocket": UncompressedWebSocket,
        }
        self.pinger = Pinger(self.ping_interval)

    async def handle_request(self, *args: Any, **kwargs: Any) -> Any:
        """A websocket connect opens a LeanSocket here; any other request goes to the library.

        So does any request this path is unsure of: the library answers it (or refuses it) as
        it always has. The library's handle_request and _handle_connect frames, and the parsed
        query the first keeps, would stay suspended for the life of the connection; this one
        frame holds the request and the environ.
        """
        request = args[0] if len(args) == 1 and not kwargs else None
        if not isinstance(request, web.BaseRequest) or not self._websocket_connect(request):
            return await super().handle_request(*args, **kwargs)
        environ = self._async["translate_request"](request)
        origin = environ.get("HTTP_ORIGIN")
        if origin and self.cors_allowed_origins != []:
            allowed = self._cors_allowed_origins(environ)
            if allowed is not None and origin not in allowed:
                return await super().handle_request(*args, **kwargs)  # refused, and logged
        del origin

        # From here as engineio 4.15's AsyncServer._handle_connect for the websocket transport.
        if self.start_service_task:
            # the service task closes sockets whose ping went unanswered
            self.start_service_task = False
            self.service_task_handle = self.start_background_task(self._service_task)
        sid = self.generate_id()
        s = LeanSocket(self, sid)
        self.sockets[sid] = s
        await s.send(
            eio_packet.Packet(
                eio_packet.OPEN,
                {
                    "sid": sid,
                    "upgrades": self._upgrades(sid, "websocket"),
                    "pingTimeout": int(self.ping_timeout * 1000),
                    "pingInterval": int(self.ping_interval + self.ping_interval_grace_period)
                    * 1000,
                    "maxPayload": self.max_http_buffer_size,
                },
            )
        )
        ret = await self._trigger_event("connect", sid, environ, run_async=False)
        if ret is not None and ret is not True:
            del self.sockets[sid]
            self.logger.warning("Application rejected connection")
            return await self._make_response(self._unauthorized(ret or None), environ)
        s.schedule_ping()
        try:
            return await s.serve(environ)
        finally:
            if s.closed and sid in self.sockets:
                # websocket connection ended, so we are done
                del self.sockets[sid]

    def _websocket_connect(self, request: web.BaseRequest) -> bool:
        """A new Engine.IO 4 session asking for the websocket transport, with the upgrade
        header (the checks of the library's handle_request on that path)."""
        query = urllib.parse.parse_qs(request.query_string)
        return (
            request.method == "GET"
            and "sid" not in query
            and "j" not in query
            and query.get("transport") == ["websocket"]
            and "websocket" in self.transports
            and query.get("EIO") == ["4"]
            and request.headers.get("Upgrade", "").lower() == "websocket"
        )

    async def shutdown(self) -> None:
        await self.pinger.stop()
        await super().shutdown()
