"""Server-Sent Events for one run, for plain HTTP clients: the same events as the socket's user
events (`tutor.delta` ..., then `tutor.completed` or `tutor.failed`), each with `id:` = the run's
`seq`; `Last-Event-ID` resumes after it; a comment ping after every 15 s of silence."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from aiohttp import web

from models.tutor.conversations import TutorMessage
from models.tutor.runs import ACTIVE_STATUSES, TutorRun
from server.http.errors import BadRequest
from server.runtime import Runtime
from server.tutor.runs import settle
from server.tutor.runs.feed import FeedEntry, RunFeed

PING_SECONDS = 15.0
TERMINAL = frozenset({"tutor.completed", "tutor.failed"})


class InvalidEventId(BadRequest):
    code, message = "tutor.invalid_event_id", "Last-Event-ID is the seq of an event of this run."


def last_event_id(request: web.Request) -> int:
    raw = request.headers.get("Last-Event-ID", "").strip()
    if not raw:
        return 0
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise InvalidEventId()
    return int(raw)


def frame(entry: FeedEntry) -> bytes:
    ts = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    payload = {"event_id": str(entry.seq), "type": entry.type, "ts": ts, "data": entry.data}
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (
        entry.seq,
        entry.type.encode(),
        orjson.dumps(payload),
    )


async def _ended(runtime: Runtime, run_id: int) -> FeedEntry | None:
    """The terminal event of a run that has ended, rebuilt from the database."""
    async with runtime.db.read() as session:
        run = await session.get(TutorRun, run_id)
        if run is None or run.status in ACTIVE_STATUSES:
            return None
        message = (
            await session.get(TutorMessage, run.assistant_message_id)
            if run.assistant_message_id
            else None
        )
        event_type, data = settle.terminal_event(run, message)
    return FeedEntry(int(data["seq"]), event_type, data)


async def stream(
    request: web.Request, *, runtime: Runtime, feed: RunFeed, run_id: int, after: int
) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache, no-store",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    while True:
        entries = await feed.after(run_id, after, wait=PING_SECONDS)
        if not entries:
            # Silence: the run may have ended with its feed gone (expired, or a worker that died
            # before appending its end): the database has the end.
            ended = await _ended(runtime, run_id)
            if ended is not None:
                await response.write(frame(ended))
                break
            await response.write(b": ping\n\n")
            continue
        done = await _write(response, entries)
        after = entries[-1].seq
        if done:
            break
    await response.write_eof()
    return response


async def _write(response: web.StreamResponse, entries: list[FeedEntry]) -> bool:
    """Write `entries`; True once the terminal event was written."""
    chunk: list[bytes] = []
    done = False
    for entry in entries:
        chunk.append(frame(entry))
        if entry.type in TERMINAL:
            done = True
            break
    await response.write(b"".join(chunk))
    return done
