"""Local delivery: one frame written to every websocket that may take it now, the socket's own
send for any other; batched revalidation of sessions."""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import pytest
from engineio import packet as eio_packet
from socketio import packet as sio_packet

from realtime import namespace as namespace_module
from realtime.engine import LeanSocket
from realtime.namespace import REALTIME
from realtime.server import idle_transport, text_frame
from server.keys import SOCKETS, TOKENS
from tests.helpers.realtime import realtime_settings, sign_in, sign_up, until


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 70000])
def test_a_text_frame_is_final_unmasked_with_the_shortest_length(size: int) -> None:
    payload = b"x" * size
    frame = text_frame(payload)
    assert frame[0] == 0x81
    if size < 126:
        assert frame[1] == size and frame[2:] == payload
    elif size < 65536:
        assert frame[1] == 126 and struct.unpack("!H", frame[2:4])[0] == size
        assert frame[4:] == payload
    else:
        assert frame[1] == 127 and struct.unpack("!Q", frame[2:10])[0] == size
        assert frame[10:] == payload


class FakeTransport:
    def __init__(self, buffered: int = 0, closing: bool = False) -> None:
        self.buffered, self.closing = buffered, closing

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def is_closing(self) -> bool:
        return self.closing


class FakeSocket:
    def __init__(self, transport: Any, **state: Any) -> None:
        self.ws_transport = transport
        self.closed = state.get("closed", False)
        self.upgrading = state.get("upgrading", False)
        self.upgraded = state.get("upgraded", True)
        self.queue: asyncio.Queue[Any] = asyncio.Queue()


async def test_only_an_idle_library_websocket_is_written_to_directly() -> None:
    # Sockets that upgraded from long-polling keep python-engineio's queue and writer task.
    idle = FakeSocket(FakeTransport())
    assert idle_transport(idle) is idle.ws_transport
    assert idle_transport(FakeSocket(None)) is None, "long-polling: no websocket"
    assert idle_transport(FakeSocket(FakeTransport(buffered=10))) is None
    assert idle_transport(FakeSocket(FakeTransport(closing=True))) is None
    assert idle_transport(FakeSocket(FakeTransport(), closed=True)) is None
    assert idle_transport(FakeSocket(FakeTransport(), upgrading=True)) is None
    assert idle_transport(FakeSocket(FakeTransport(), upgraded=False)) is None
    busy = FakeSocket(FakeTransport())
    busy.queue.put_nowait("packet")
    assert idle_transport(busy) is None
    busy.queue.get_nowait()
    assert idle_transport(busy) is None, "taken by the writer, not yet written"
    busy.queue.task_done()
    assert idle_transport(busy) is busy.ws_transport


async def test_a_room_broadcast_reaches_every_local_socket_in_order(server, connect) -> None:
    account = await sign_up(server)
    room = f"user:{account['user']['id']}"
    sockets = [await connect(server, {"token": account["access_token"]}) for _ in range(3)]
    other = await connect(server, {"token": (await sign_up(server))["access_token"]})
    sio = server.app[SOCKETS]

    for number in range(5):
        await sio.emit("bench.tick", {"n": number}, room=room)

    for socket in sockets:
        received = [await socket.next() for _ in range(5)]
        assert received == [("bench.tick", {"n": number}) for number in range(5)]
    await asyncio.sleep(0.1)
    assert other.events.empty()


async def test_a_packet_sent_to_a_socket_comes_before_a_later_broadcast(server, connect) -> None:
    account = await sign_up(server)
    socket = await connect(server, {"token": account["access_token"]})
    sio = server.app[SOCKETS]
    [eio_socket] = sio.eio.sockets.values()
    # A websocket client's packets are written as they are sent: nothing waits in a queue, so
    # a broadcast may always write its frame straight after them.
    first = sio.packet_class(sio_packet.EVENT, namespace="/", data=["first", {"n": 1}])
    await eio_socket.send(eio_packet.Packet(eio_packet.MESSAGE, first.encode()))
    assert isinstance(eio_socket, LeanSocket) and eio_socket._queue is None
    assert idle_transport(eio_socket) is eio_socket.direct is not None
    await sio.emit("second", {"n": 2}, room=f"user:{account['user']['id']}")
    assert [await socket.next(), await socket.next()] == [("first", {"n": 1}), ("second", {"n": 2})]


async def test_binary_payloads_take_the_librarys_path(server, connect) -> None:
    account = await sign_up(server)
    socket = await connect(server, {"token": account["access_token"]})
    await server.app[SOCKETS].emit("blob", b"\x00\x01", room=f"user:{account['user']['id']}")
    assert await socket.next() == ("blob", b"\x00\x01")


async def test_revalidation_reads_sessions_in_batches(
    make_server, connect, database_url, monkeypatch
) -> None:
    server = await make_server(realtime_settings(database_url, socket_revalidate_seconds=3600))
    monkeypatch.setattr(namespace_module, "REVALIDATE_BATCH", 2)
    account = await sign_up(server)
    sessions = [account] + [await sign_in(server, account["user"]["email"]) for _ in range(2)]
    sockets = [await connect(server, {"token": s["access_token"]}) for s in sessions]
    for revoked in sessions[:2]:
        headers = {"Authorization": f"Bearer {revoked['access_token']}"}
        assert (await server.post("/api/v1/auth/logout", headers=headers)).status == 204

    realtime = server.app[REALTIME]
    reads: list[list[int]] = []
    read = realtime.live_sessions

    async def counting(session_ids: list[int]) -> set[int]:
        reads.append(session_ids)
        return await read(session_ids)

    monkeypatch.setattr(realtime, "live_sessions", counting)
    assert await realtime.revalidate() == 2
    assert [len(batch) for batch in reads] == [2, 1]
    await until(lambda: not sockets[0].client.connected and not sockets[1].client.connected)
    assert sockets[2].client.connected
    survivor = server.app[TOKENS].decode_access(sessions[2]["access_token"]).session_id
    assert realtime.sockets_by_session.keys() == {survivor}


async def test_revalidation_keeps_everyone_when_the_database_fails(
    make_server, connect, database_url, monkeypatch
) -> None:
    server = await make_server(realtime_settings(database_url, socket_revalidate_seconds=3600))
    account = await sign_up(server)
    socket = await connect(server, {"token": account["access_token"]})
    realtime = server.app[REALTIME]

    async def failing(_session_ids: list[int]) -> set[int]:
        raise OSError("database unreachable")

    monkeypatch.setattr(realtime, "live_sessions", failing)
    assert await realtime.revalidate() == 0
    assert socket.client.connected
