"""LeanSocket and the Pinger (realtime/engine.py) against real clients, on a bare aiohttp app.

The wire protocol must not change: the OPEN packet, pings answered or not, server closes; and
long-polling clients keep python-engineio's own socket, upgrade included.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import orjson
import pytest
import socketio
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient
from engineio import packet as eio_packet
from engineio.async_socket import AsyncSocket

from realtime.engine import LeanEngineServer, LeanSocket, Pinger, packet_frame, ws_frame
from realtime.server import HoldingManager, SocketServer, idle_transport

TIMEOUT = 5
SIO: web.AppKey[socketio.AsyncServer] = web.AppKey("sio", socketio.AsyncServer)
EVENTS: web.AppKey[list[tuple[str, Any]]] = web.AppKey("events", list)


def bare_app(**options: Any) -> web.Application:
    """A Socket.IO server on SocketServer: `echo` acks its payload, connects are recorded."""
    options = {"ping_interval": (0.1, 1), "ping_timeout": 1, **options}
    sio = SocketServer(async_mode="aiohttp", client_manager=HoldingManager(), **options)
    events: list[tuple[str, Any]] = []

    @sio.event
    async def connect(sid: str, _environ: dict[str, Any], _auth: Any = None) -> None:
        events.append(("connect", sid))

    @sio.event
    async def disconnect(sid: str, reason: Any = None) -> None:
        events.append(("disconnect", reason))

    @sio.event
    async def echo(_sid: str, data: Any) -> Any:
        return data

    app = web.Application()
    sio.attach(app)
    app[SIO], app[EVENTS] = sio, events

    async def shutdown(_app: web.Application) -> None:
        await sio.shutdown()

    app.on_cleanup.append(shutdown)
    return app


async def python_client(server: TestClient, transports: list[str]) -> socketio.AsyncClient:
    client = socketio.AsyncClient(reconnection=False)
    received: asyncio.Queue[Any] = asyncio.Queue()
    client.on("tick", received.put)
    client.received = received
    url = str(server.make_url("/")).rstrip("/")
    await client.connect(url, transports=transports, wait_timeout=TIMEOUT)
    return client


async def until(predicate: Any) -> None:
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def per_socket_tasks() -> list[str]:
    names = [getattr(t.get_coro(), "__qualname__", "") for t in asyncio.all_tasks()]
    return [n for n in names if n.startswith("AsyncSocket.")]


async def test_a_websocket_client_gets_a_lean_socket_with_no_task_or_queue(aiohttp_client) -> None:
    server = await aiohttp_client(bare_app())
    sio = server.app[SIO]
    clients = [await python_client(server, ["websocket"]) for _ in range(3)]
    try:
        sockets = list(sio.eio.sockets.values())
        assert len(sockets) == 3 and all(isinstance(s, LeanSocket) for s in sockets)
        assert all(s._queue is None and s.direct is not None for s in sockets)
        assert per_socket_tasks() == []
        assert len(sio.eio.pinger) == 3
        assert await clients[0].call("echo", {"a": 1}, timeout=TIMEOUT) == {"a": 1}
        await sio.emit("tick", {"n": 1})
        for client in clients:
            assert await asyncio.wait_for(client.received.get(), TIMEOUT) == {"n": 1}
        assert all(s._queue is None for s in sockets)
    finally:
        for client in clients:
            await client.disconnect()
    await until(lambda: not sio.eio.sockets)


async def test_a_sent_packet_and_a_later_broadcast_arrive_in_order(aiohttp_client) -> None:
    server = await aiohttp_client(bare_app())
    sio, events = server.app[SIO], server.app[EVENTS]
    client = await python_client(server, ["websocket"])
    try:
        [eio_socket] = sio.eio.sockets.values()
        assert idle_transport(eio_socket) is eio_socket.direct
        [sid] = [sid for name, sid in events if name == "connect"]
        for n in range(3):
            await sio.emit("tick", {"n": n}, to=sid)
            await sio.emit("tick", {"n": n, "to": "all"})
        got = [await asyncio.wait_for(client.received.get(), TIMEOUT) for _ in range(6)]
        assert got == [m for n in range(3) for m in ({"n": n}, {"n": n, "to": "all"})]
    finally:
        await client.disconnect()


async def test_pings_come_every_interval_and_answers_keep_the_socket(aiohttp_client) -> None:
    server = await aiohttp_client(bare_app())
    sio = server.app[SIO]
    client = await python_client(server, ["websocket"])
    try:
        [eio_socket] = sio.eio.sockets.values()
        pongs: list[float] = []
        receive = eio_socket.receive

        async def counting(pkt: eio_packet.Packet) -> None:
            if pkt.packet_type == eio_packet.PONG:
                pongs.append(asyncio.get_running_loop().time())
            await receive(pkt)

        eio_socket.receive = counting
        await asyncio.sleep(0.65)
        assert len(pongs) >= 4, pongs
        gaps = [b - a for a, b in itertools.pairwise(pongs)]
        assert all(gap > 0.08 for gap in gaps), gaps
        assert client.connected and not eio_socket.closed
    finally:
        await client.disconnect()


async def test_the_open_packet_says_what_the_librarys_says(aiohttp_client) -> None:
    server = await aiohttp_client(bare_app(ping_interval=25, ping_timeout=20))
    polling = await server.get("/socket.io/", params={"EIO": "4", "transport": "polling"})
    body = await polling.text()
    assert body.startswith("0")
    library = orjson.loads(body[1:])
    async with server.session.ws_connect(
        server.make_url("/socket.io/?EIO=4&transport=websocket")
    ) as ws:
        first = await ws.receive_str(timeout=TIMEOUT)
    assert first.startswith("0")
    lean = orjson.loads(first[1:])
    assert set(lean) == set(library)
    assert lean["upgrades"] == [] and library["upgrades"] == ["websocket"]
    for key in ("pingTimeout", "pingInterval", "maxPayload"):
        assert lean[key] == library[key]
    assert (lean["pingInterval"], lean["pingTimeout"]) == (25000, 20000)


async def test_a_client_that_stops_answering_pings_is_closed(aiohttp_client) -> None:
    server = await aiohttp_client(bare_app(ping_interval=(0.1, 1), ping_timeout=0.2))
    sio, events = server.app[SIO], server.app[EVENTS]
    async with server.session.ws_connect(
        server.make_url("/socket.io/?EIO=4&transport=websocket")
    ) as ws:
        assert (await ws.receive_str(timeout=TIMEOUT)).startswith("0")
        await ws.send_str("40")  # join the default namespace; then never answer a ping
        received: list[str] = []
        while True:
            message = await ws.receive(timeout=TIMEOUT)
            if message.type is not WSMsgType.TEXT:
                break
            received.append(message.data)
    assert message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED)
    assert received[0].startswith("40") and "2" in received and received[-1] == "1"
    await until(lambda: ("disconnect", sio.reason.PING_TIMEOUT) in events)
    await until(lambda: not sio.eio.sockets)


async def test_a_server_disconnect_ends_the_connection(aiohttp_client) -> None:
    server = await aiohttp_client(bare_app())
    sio, events = server.app[SIO], server.app[EVENTS]
    client = await python_client(server, ["websocket"])
    gone = asyncio.Event()
    client.on("disconnect", lambda *_: gone.set())
    [sid] = [sid for name, sid in events if name == "connect"]
    await sio.disconnect(sid)
    await asyncio.wait_for(gone.wait(), TIMEOUT)
    await until(lambda: not sio.eio.sockets)
    assert ("disconnect", sio.reason.SERVER_DISCONNECT) in events


async def test_long_polling_keeps_the_librarys_socket_through_the_upgrade(aiohttp_client) -> None:
    server = await aiohttp_client(bare_app())
    sio = server.app[SIO]
    client = await python_client(server, ["polling", "websocket"])
    try:
        [eio_socket] = sio.eio.sockets.values()
        assert type(eio_socket) is AsyncSocket
        await until(lambda: client.transport() == "websocket" and eio_socket.upgraded)
        assert await client.call("echo", {"b": 2}, timeout=TIMEOUT) == {"b": 2}
        await sio.emit("tick", {"n": 7})
        assert await asyncio.wait_for(client.received.get(), TIMEOUT) == {"n": 7}
        await asyncio.sleep(0.35)  # a few pings on the library's own schedule
        assert client.connected
    finally:
        await client.disconnect()


def test_a_lean_socket_has_every_attribute_of_the_librarys() -> None:
    server = LeanEngineServer(async_mode="aiohttp")
    library = set(vars(AsyncSocket(server, "a"))) - {"queue"}
    lean = LeanSocket(server, "b")
    assert library <= set(vars(lean))
    assert lean.queue is lean.queue, "made once, on first use"


@pytest.mark.parametrize(("opcode", "first"), [(0x1, 0x81), (0x2, 0x82)])
def test_frames_are_final_unmasked_and_typed(opcode: int, first: int) -> None:
    assert ws_frame(b"abc", opcode) == bytes([first, 3]) + b"abc"


def test_an_engineio_packet_frames_as_text_or_binary() -> None:
    assert packet_frame(eio_packet.Packet(eio_packet.PING)) == b"\x81\x012"
    binary = eio_packet.Packet(eio_packet.MESSAGE, b"\x00\x01")
    assert packet_frame(binary) == b"\x82\x02\x00\x01"


async def test_the_pinger_pings_in_schedule_order_and_stops() -> None:
    pinged: list[str] = []

    class Fake:
        def __init__(self, name: str) -> None:
            self.name = name

        async def ping(self) -> None:
            pinged.append(self.name)
            if self.name == "b":
                raise RuntimeError("a failing socket does not stop the others")

    pinger = Pinger(0.05)
    for name in "abc":
        pinger.schedule(Fake(name))  # type: ignore[arg-type]
    assert pinged == []
    await until(lambda: len(pinged) == 3)
    assert pinged == ["a", "b", "c"] and len(pinger) == 0
    pinger.schedule(Fake("d"))  # type: ignore[arg-type]
    await until(lambda: pinged[-1] == "d")
    await pinger.stop()
    assert pinger._task is None


async def test_requests_off_the_websocket_connect_path_get_the_librarys_answers(
    aiohttp_client,
) -> None:
    server = await aiohttp_client(bare_app(cors_allowed_origins=["https://app.example.com"]))
    sio = server.app[SIO]
    upgrade = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13"}
    upgrade["Sec-WebSocket-Key"] = "dGhlIHNhbXBsZSBub25jZQ=="
    old = await server.get("/socket.io/?EIO=3&transport=websocket", headers=upgrade)
    assert old.status == 400 and "unsupported version" in await old.text()
    foreign = await server.get(
        "/socket.io/?EIO=4&transport=websocket",
        headers={**upgrade, "Origin": "https://elsewhere.example"},
    )
    assert foreign.status == 400 and "not an accepted origin" in await foreign.text()
    plain = await server.get("/socket.io/?EIO=4&transport=websocket")
    assert plain.status == 400 and "Invalid websocket upgrade" in await plain.text()
    assert not sio.eio.sockets


async def test_a_failed_websocket_handshake_leaves_no_socket_behind(aiohttp_client) -> None:
    server = await aiohttp_client(bare_app())
    sio = server.app[SIO]
    headers = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "not a key",
    }
    response = await server.get("/socket.io/?EIO=4&transport=websocket", headers=headers)
    assert response.status == 400 and "Handshake error" in await response.text()
    assert not sio.eio.sockets
