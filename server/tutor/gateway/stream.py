"""Reading a provider's server-sent events: framing, and noticing when the provider goes quiet."""

from __future__ import annotations

import asyncio
from collections import deque

import aiohttp


class Quiet(Exception):
    """Raised into a stream's pending read by its watchdog."""


class Watchdog:
    """Fails a stream's pending read when the provider goes quiet, without a timer per line.

    Until the first data event the limit is the first-byte deadline (keep-alive comments do not
    meet it). After it, any bytes received count as life: one timer, every quarter of the idle
    limit, compares the stream's byte counter. It only fires while the reader waits on the
    socket, so a slow consumer with unread data never looks like a quiet provider.
    """

    __slots__ = (
        "_handle",
        "_idle",
        "_loop",
        "_quiet_since",
        "_seen",
        "_step",
        "_stream",
        "deadline",
        "reading",
    )

    def __init__(self, stream: aiohttp.StreamReader, *, deadline: float, idle: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._stream = stream
        self._idle = idle
        self._step = max(idle / 4, 0.005)
        self._seen = 0
        self._quiet_since = 0.0
        self.deadline: float | None = deadline
        self.reading = False
        self._handle = self._loop.call_at(min(deadline, self._loop.time() + self._step), self._tick)

    def data_arrived(self) -> None:
        """The first data event came: from now on the idle limit applies."""
        self.deadline = None
        self._seen = self._stream.total_bytes
        self._quiet_since = self._loop.time()

    def stop(self) -> None:
        self._handle.cancel()

    def _tick(self) -> None:
        now = self._loop.time()
        if self.deadline is not None:
            quiet = now >= self.deadline
        else:
            if self._stream.total_bytes != self._seen:
                self._seen = self._stream.total_bytes
                self._quiet_since = now
            quiet = now - self._quiet_since >= self._idle
        if quiet and self.reading:
            self._stream.set_exception(Quiet())
            return
        due = now + self._step
        if self.deadline is not None and now < self.deadline:
            due = min(due, self.deadline)
        self._handle = self._loop.call_at(due, self._tick)


class ServerSentEvents:
    """The data of each server-sent event in a byte stream, whatever its chunk boundaries.

    Reads whatever has arrived and splits it here: one call per network chunk rather than per
    line is what keeps a thousand relayed streams on one core.
    """

    __slots__ = ("_data", "_ready", "_stream", "_tail", "_watchdog")

    def __init__(self, stream: aiohttp.StreamReader, watchdog: Watchdog) -> None:
        self._stream = stream
        self._watchdog = watchdog
        self._tail = b""  # an unfinished line
        self._data: bytes | None = None  # the data lines of an unfinished event
        self._ready: deque[bytes] = deque()

    async def next(self) -> bytes | None:
        """The next event's data, or None at the end of the stream."""
        while not self._ready:
            self._watchdog.reading = True
            try:
                chunk = await self._stream.readany()
            finally:
                self._watchdog.reading = False
            if not chunk:
                # Lenient at the end: an event missing its closing blank line still counts.
                self._line(self._tail)
                self._tail = b""
                self._line(b"")
                return self._ready.popleft() if self._ready else None
            self._feed(chunk)
        return self._ready.popleft()

    def _feed(self, chunk: bytes) -> None:
        buffer = self._tail + chunk if self._tail else chunk
        if b"\r" in buffer:
            buffer = buffer.replace(b"\r\n", b"\n")  # a CR left last waits in the tail for its LF
        *lines, self._tail = buffer.split(b"\n")
        for line in lines:
            self._line(line)

    def _line(self, line: bytes) -> None:
        if not line:
            if self._data is not None:
                self._ready.append(self._data)
                self._data = None
        elif line.startswith(b"data:"):
            value = line[6:] if line[5:6] == b" " else line[5:]
            self._data = value if self._data is None else self._data + b"\n" + value
        # comments (":..."), event:, id: and retry: lines carry nothing we use
