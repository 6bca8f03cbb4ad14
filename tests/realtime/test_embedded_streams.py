"""The embedded mode's in-memory streams, alone and end to end (no MariaDB, no Redis)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from realtime.namespace import REALTIME
from realtime.rooms import RoomAccess, UnknownRoom, requires_role
from realtime.streams import STREAM_START, MemoryEventStreams, RecoveryFailed, id_key
from server.app import create_app
from server.http.errors import Forbidden
from server.keys import JOB_RUNNER
from tests.helpers.env import migrated_embedded_settings
from tests.helpers.realtime import publish, sign_up

TS = "2026-01-01T00:00:00.000Z"


async def test_memory_streams_number_events_and_replay_after_an_id() -> None:
    streams = MemoryEventStreams(maxlen=10)
    ids = [await streams.append(7, "order.updated", {"n": n}, ts=TS) for n in range(3)]
    assert ids == sorted(ids, key=id_key) and len(set(ids)) == 3
    await streams.append(8, "order.updated", {"n": 99}, ts=TS)
    after = await streams.after(7, ids[0])
    assert [(e.event_id, e.data) for e in after] == [(ids[1], {"n": 1}), (ids[2], {"n": 2})]
    assert await streams.after(7, ids[2]) == []


async def test_memory_streams_deduplicate_by_dedupe_id_per_user() -> None:
    streams = MemoryEventStreams(maxlen=10)
    first = await streams.append(7, "order.updated", {}, ts=TS, dedupe_id="outbox:1")
    assert await streams.append(7, "order.updated", {}, ts=TS, dedupe_id="outbox:1") == first
    other_user = await streams.append(8, "order.updated", {}, ts=TS, dedupe_id="outbox:1")
    assert other_user != first
    # SQLite reuses a deleted outbox row's id: another event under that id is not a duplicate.
    reused = await streams.append(7, "order.updated", {"n": 2}, ts=TS, dedupe_id="outbox:1")
    assert reused != first
    assert [e.event_id for e in await streams.after(7, first)] == [reused]


async def test_memory_streams_refuse_trimmed_unknown_and_malformed_ids() -> None:
    streams = MemoryEventStreams(maxlen=2)
    ids = [await streams.append(7, "order.updated", {"n": n}, ts=TS) for n in range(3)]
    with pytest.raises(RecoveryFailed, match="unknown_or_trimmed"):
        await streams.after(7, ids[0])
    assert [e.data["n"] for e in await streams.after(7, ids[1])] == [2]
    with pytest.raises(RecoveryFailed, match="unknown_or_trimmed"):
        await streams.after(9, ids[1])
    for bad in ("abc", "", None, 5, "1-2-3"):
        with pytest.raises(RecoveryFailed, match="malformed_event_id"):
            await streams.after(7, bad)


async def test_memory_streams_read_a_position_and_replay_from_it_unanchored() -> None:
    streams = MemoryEventStreams(maxlen=2)
    assert await streams.tail(7) == STREAM_START
    assert [e.data["n"] for e in await streams.after(7, STREAM_START, anchored=False)] == []
    ids = [await streams.append(7, "order.updated", {"n": n}, ts=TS) for n in range(3)]
    assert await streams.tail(7) == ids[2]
    # A server-side position need not be in the stream: everything newer than it comes back.
    everything = await streams.after(7, STREAM_START, anchored=False)
    assert [e.data["n"] for e in everything] == [1, 2]
    assert [e.data["n"] for e in await streams.after(7, ids[0], anchored=False)] == [1, 2]
    assert await streams.after(7, ids[2], anchored=False) == []
    with pytest.raises(RecoveryFailed, match="unknown_or_trimmed"):
        await streams.after(7, STREAM_START)  # a client's id must be in the stream


async def test_room_access_resolves_the_longest_kind_and_guards_user_rooms() -> None:
    from datetime import UTC, datetime

    from server.http.guards import Principal

    rooms = RoomAccess()
    seen: list[str] = []

    async def creator_dashboard(principal: Principal, room_id: str) -> bool:
        seen.append(room_id)
        return room_id == str(principal.user_id)

    rooms.register("dashboard:creator", creator_dashboard)
    rooms.register("dashboard:platform", requires_role("admin"))
    with pytest.raises(ValueError):
        rooms.register("user", creator_dashboard)
    ann = Principal(5, 1, frozenset({"reader"}), datetime.now(UTC))

    await rooms.authorize(ann, "user:5")
    await rooms.authorize(ann, "dashboard:creator:5")
    assert seen == ["5"]
    for room, error in (
        ("user:6", Forbidden),
        ("dashboard:creator:6", Forbidden),
        ("dashboard:platform", Forbidden),
        ("dashboard", UnknownRoom),
        ("dashboard:creator", Forbidden),  # the check decides: no id is nobody's
    ):
        with pytest.raises(error):
            await rooms.authorize(ann, room)


@pytest.fixture
async def embedded(aiohttp_client: Any, tmp_path: Path) -> Any:
    settings = await migrated_embedded_settings(tmp_path)
    return await aiohttp_client(create_app(settings))


async def test_embedded_sockets_authenticate_receive_and_recover(embedded, connect) -> None:
    assert isinstance(embedded.app[REALTIME].streams, MemoryEventStreams)
    await connect(embedded, {"token": "garbage"}, expect_error=True)

    account = await sign_up(embedded)
    await embedded.app[JOB_RUNNER].drain()  # the welcome notification goes out first
    user_id, token = account["user"]["id"], account["access_token"]
    socket = await connect(embedded, {"token": token})
    await publish(embedded, "order.updated", {"n": 1}, user_id=user_id)
    name, first = await socket.next()
    assert name == "order.updated" and first["data"] == {"n": 1}
    assert isinstance(first["event_id"], str)
    await socket.client.disconnect()

    await publish(embedded, "order.updated", {"n": 2}, user_id=user_id)
    again = await connect(embedded, {"token": token, "last_event_id": first["event_id"]})
    await publish(embedded, "order.updated", {"n": 3}, user_id=user_id)
    received = [(await again.next())[1]["data"]["n"] for _ in range(2)]
    assert received == [2, 3]
