"""The default namespace: connect auth, the user room, recovery, client events, revocation.

Connect: `auth = {"token": "<access token>", "last_event_id": "<optional>"}`. The token is
checked by the same SessionGuard as REST; a refusal is `connect_error` with message
`auth.invalid_token` and `data.code` naming the precise reason. The principal is kept in the
socket session and the socket joins `user:<id>`.

Recovery ordering: a socket reconnecting with `last_event_id` joins its user room at once but
on hold (see HoldingManager): live user events for it are queued, not sent. Once the CONNECT
packet is out, a task reads the stream after `last_event_id`, sends those entries, then sends
the held ones (skipping any the replay already sent, by stream id) and lifts the hold. So the
client sees old events in order before any new one, and nothing published during the replay is
lost: joining the room before reading the stream means every event is in the read or in the
hold, or both. An unknown, trimmed or malformed id gets `recovery.failed` instead.

Pub/sub outages: while this instance's Redis subscription is down, what is published reaches
none of its sockets, though they stay connected. Each socket has a position (the manager's
`positions`: the newest stream id it was given, or its stream's newest id when it connected).
Each time the subscription is made, before anything published after it is delivered,
`resubscribed` puts every socket on hold and the same task replays its stream from its
position: nothing committed is missed, nothing is sent twice. A socket whose position is
unknown (Redis was down when it connected) or trimmed gets `recovery.failed`.

Client events are answered through the ack: `{"ok": true, "data": ...}` or
`{"ok": false, "error": {...}}` in the REST error shape. Besides `subscribe`, `unsubscribe` and
`auth.refresh`, domains add events (`message.send`, `typing` ...) through a ClientEvents registry
that server/app.py fills; every event passes the same per-socket rate limit. ConnectionHooks (the
presence tracker) hear of each socket that comes and goes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC
from typing import Any, NoReturn, Protocol

import socketio
import structlog
from aiohttp import web
from sqlalchemy import select

from models.identity.sessions import AuthSession
from models.identity.users import User
from realtime.events import envelope
from realtime.rooms import RoomAccess, user_room
from realtime.streams import STREAM_START, EventStreams, RecoveryFailed, StreamEntry
from server.http.errors import (
    ApiError,
    Forbidden,
    InternalError,
    RateLimited,
    ServiceUnavailable,
    Unauthorized,
    ValidationFailed,
)
from server.http.guards import Principal
from server.metrics import Metrics
from server.runtime import Runtime
from server.settings import Settings

log = structlog.get_logger(__name__)

NAMESPACE = "/"
# How long a recovery waits for the CONNECT packet to be queued before it gives up.
CONNECT_WAIT_SECONDS = 5.0
# How long a connect waits for its user stream's newest id (its position) before going on
# without one.
POSITION_WAIT_SECONDS = 1.0
# Stream reads in flight at once for replays (a resubscription replays every socket).
REPLAY_READS = 16
# Put in a held queue when the subscription is made again: the replay runs again from there.
RESUBSCRIBED: tuple[str, Any] = ("", None)
# A replay's starting point meaning "from the socket's position".
FROM_POSITION = object()
MAX_ROOM_NAME = 200
# Sessions whose liveness one revalidation query reads (an IN list of primary keys).
REVALIDATE_BATCH = 500


class Authenticator(Protocol):
    """What the socket layer needs of server.identity.auth.sessions.SessionGuard."""

    async def principal(self, runtime: Runtime, token: str) -> Principal: ...

    async def session_state(self, runtime: Runtime, session_id: int) -> Any: ...


class InvalidSocketToken(Unauthorized):
    code, message = "auth.invalid_token", "The access token is invalid or has expired."


class UnknownEvent(ApiError):
    status, code, message = 400, "realtime.unknown_event", "There is no such event."


class TokenBucket:
    """`rate` tokens a second, at most `burst` saved up; one per client event."""

    __slots__ = ("burst", "rate", "tokens", "updated")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.updated = time.monotonic()

    def take(self) -> float:
        """0 if allowed, else the seconds until a token is available."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


Handler = Callable[[str, Principal, dict[str, Any]], Awaitable[Any]]
# What a domain registers: (principal with its session's present roles, payload) -> ack data.
ClientHandler = Callable[[Principal, dict[str, Any]], Awaitable[Any]]
BUILT_IN_EVENTS = frozenset({"subscribe", "unsubscribe", "auth.refresh"})


class ClientEvents:
    """Client event name -> handler, filled by the composition root (domains never import
    realtime): `events.register("message.send", send)`. A handler raises any ApiError to answer
    an error ack; whatever it returns is the ack's `data`."""

    def __init__(self) -> None:
        self._handlers: dict[str, ClientHandler] = {}

    def register(self, name: str, handler: ClientHandler) -> None:
        if not name or name in BUILT_IN_EVENTS or name in self._handlers:
            raise ValueError(f"client event {name!r} is reserved or already registered")
        self._handlers[name] = handler

    @property
    def names(self) -> list[str]:
        return sorted(self._handlers)

    def items(self) -> list[tuple[str, ClientHandler]]:
        return list(self._handlers.items())


class ConnectionHooks(Protocol):
    """Told of every socket of a user that comes and goes on this instance (presence)."""

    async def connected(self, user_id: int) -> None: ...

    async def disconnected(self, user_id: int) -> None: ...


class RealtimeNamespace(socketio.AsyncNamespace):
    """Class-based handlers for `/`; dependencies come from the composition root."""

    def __init__(
        self,
        *,
        settings: Settings,
        guard: Authenticator,
        runtime: Runtime,
        streams: EventStreams,
        rooms: RoomAccess,
        metrics: Metrics,
        client_events: ClientEvents | None = None,
        hooks: ConnectionHooks | None = None,
    ) -> None:
        super().__init__(NAMESPACE)
        self.settings = settings
        self.guard = guard
        self.runtime = runtime
        self.streams = streams
        self.rooms = rooms
        self.metrics = metrics
        self.handlers: dict[str, Handler] = {
            "subscribe": self.subscribe,
            "unsubscribe": self.unsubscribe,
            "auth.refresh": self.refresh,
        }
        for name, handler in client_events.items() if client_events else []:
            self.handlers[name] = self._domain_handler(handler)
        self.hooks = hooks
        self._user_of: dict[str, int] = {}
        self._connected: set[str] = set()
        self._buckets: dict[str, TokenBucket] = {}
        self._session_of: dict[str, int] = {}
        self.sockets_by_session: dict[int, set[str]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._revalidator: asyncio.Task[None] | None = None
        self._replay_reads = asyncio.Semaphore(REPLAY_READS)

    # -- dispatch ----------------------------------------------------------------------------

    async def trigger_event(self, event: str, *args: Any) -> Any:
        if event == "connect":
            return await self.on_connect(*args)
        if event == "disconnect":
            return await self.on_disconnect(args[0])
        return await self.client_event(args[0], event, args[1:])

    async def client_event(self, sid: str, event: str, payload: tuple[Any, ...]) -> dict[str, Any]:
        handler = self.handlers.get(event)
        self.metrics.socket_events.labels("in", event if handler else "unknown").inc()
        try:
            bucket = self._buckets.get(sid)
            wait = bucket.take() if bucket is not None else 0.0
            if wait:
                raise RateLimited(int(wait) + 1, "Too many events on this socket; slow down.")
            if handler is None:
                raise UnknownEvent()
            if len(payload) != 1 or not isinstance(payload[0], dict):
                raise ValidationFailed("The event's payload must be one JSON object.")
            session = await self.get_session(sid)
            principal = session.get("principal")
            if not isinstance(principal, Principal):
                raise Unauthorized()
            data = await handler(sid, principal, payload[0])
        except ApiError as exc:
            return {"ok": False, "error": exc.body()["error"]}
        except Exception as exc:
            log.exception("socket.event_failed", socket_event=event, error=repr(exc))
            return {"ok": False, "error": InternalError().body()["error"]}
        return {"ok": True, "data": data}

    # -- connect / disconnect ----------------------------------------------------------------

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        if not isinstance(token, str) or not token:
            refuse(InvalidSocketToken())
        try:
            principal = await self.guard.principal(self.runtime, token)
        except ApiError as exc:
            refuse(exc)
        except Exception as exc:  # the database is unreachable: not the client's fault
            log.warning("socket.connect_unavailable", error=repr(exc))
            unavailable = ServiceUnavailable()
            raise socketio.exceptions.ConnectionRefusedError(
                unavailable.code, {"code": unavailable.code, "message": unavailable.message}
            ) from exc
        await self.save_session(sid, {"principal": principal})
        self._connected.add(sid)
        self._bind(sid, principal.session_id)
        self._buckets[sid] = TokenBucket(
            self.settings.socket_event_rate, self.settings.socket_event_burst
        )
        self.metrics.sockets_connected.inc()
        assert isinstance(auth, dict)
        last_event_id = auth.get("last_event_id")
        await self._join(sid, principal.user_id, last_event_id)
        if self.hooks is not None:
            await self._tell(self.hooks.connected, principal.user_id)
        # Until CONNECT is out (after this handler), nothing may be sent: what came meanwhile
        # was held, and goes out from the task that waits for it.
        if last_event_id is not None or self.server.manager.held.get(sid):
            self._spawn(self._sync(sid, principal.user_id, last_event_id), "socket-recover")
        else:
            self.server.manager.held.pop(sid, None)

    async def _join(self, sid: str, user_id: int, last_event_id: Any) -> None:
        """Into the user room, on hold until it has what it is owed (see the module doc).

        A fresh socket reads its position first (anything older is not owed to it) and is
        held only while it connects: in case an event or a new subscription comes meanwhile.
        """
        self._user_of[sid] = user_id
        self.server.manager.held[sid] = []
        if last_event_id is None:
            await self._read_position(sid, user_id)
        await self.enter_room(sid, user_room(user_id))

    def _spawn(self, coroutine: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def on_disconnect(self, sid: str) -> None:
        if sid not in self._connected:
            return
        self._connected.discard(sid)
        self._buckets.pop(sid, None)
        self._unbind(sid)
        self.server.manager.held.pop(sid, None)
        self.server.manager.positions.pop(sid, None)
        self.metrics.sockets_connected.dec()
        user_id = self._user_of.pop(sid, None)
        if self.hooks is not None and user_id is not None:
            # Its own task: the connection's handler (and anything it awaits) may be cancelled
            # as the transport closes.
            self._spawn(self._tell(self.hooks.disconnected, user_id), "socket-disconnected")

    async def _tell(self, hook: Callable[[int], Awaitable[None]], user_id: int) -> None:
        """A hook's failure (Redis down) never refuses or breaks a connection."""
        try:
            await hook(user_id)
        except Exception as exc:
            log.warning("socket.hook_failed", error=repr(exc))

    def _bind(self, sid: str, session_id: int) -> None:
        self._unbind(sid)
        self._session_of[sid] = session_id
        self.sockets_by_session.setdefault(session_id, set()).add(sid)

    def _unbind(self, sid: str) -> None:
        session_id = self._session_of.pop(sid, None)
        if session_id is None:
            return
        sids = self.sockets_by_session.get(session_id)
        if sids is not None:
            sids.discard(sid)
            if not sids:
                del self.sockets_by_session[session_id]

    # -- recovery ----------------------------------------------------------------------------

    def resubscribed(self) -> None:
        """The pub/sub subscription was made (again): replay every socket from its position.

        Called by the manager's listener before it delivers anything published after the
        subscription, so each socket is on hold before its stream is read. A socket already
        held (a replay running, or joining) gets RESUBSCRIBED in its queue: its task replays
        again from there, after sending what was held before it.
        """
        manager = self.server.manager
        for sid, user_id in self._user_of.items():
            queue = manager.held.get(sid)
            if queue is not None:
                queue.append(RESUBSCRIBED)
            else:
                manager.held[sid] = []
                self._spawn(self._sync(sid, user_id, FROM_POSITION), "socket-catch-up")

    async def _sync(self, sid: str, user_id: int, start: Any) -> None:
        """Replay after `start` (a client's last_event_id, FROM_POSITION, or None: no replay),
        then send the events held meanwhile (replaying again at each RESUBSCRIBED); then lift
        the hold."""
        manager = self.server.manager
        sent: set[str] = set()
        try:
            if not await self._wait_connected(sid):
                return
            if start is not None:
                await self._replay(sid, user_id, start, sent)
            queue = manager.held.get(sid)
            while queue:
                event, data = item = queue.pop(0)
                if item is RESUBSCRIBED:
                    await self._replay(sid, user_id, FROM_POSITION, sent)
                elif not (isinstance(data, dict) and data.get("event_id") in sent):
                    await manager.send_direct(event, data, sid)
        except Exception as exc:
            log.exception("socket.recovery_error", error=repr(exc))
        finally:
            manager.held.pop(sid, None)

    async def _replay(self, sid: str, user_id: int, start: Any, sent: set[str]) -> None:
        """Send the user's events after `start`, adding their ids to `sent`; recovery.failed
        if they cannot be known (the position then starts again from the stream's end)."""
        manager = self.server.manager
        try:
            async with self._replay_reads:
                entries = await self._entries_after(sid, user_id, start)
        except RecoveryFailed as exc:
            await self._recovery_failed(sid, exc.reason)
            await self._read_position(sid, user_id)
            return
        except Exception as exc:  # Redis down: the client refetches
            log.warning("socket.recovery_unavailable", error=repr(exc))
            await self._recovery_failed(sid, "unavailable")
            return
        for entry in entries:
            sent.add(entry.event_id)
            payload = envelope(entry.type, entry.data, entry.event_id, entry.ts)
            await manager.send_direct(entry.type, payload, sid)

    async def _entries_after(self, sid: str, user_id: int, start: Any) -> list[StreamEntry]:
        if start is not FROM_POSITION:
            return await self.streams.after(user_id, start)
        position = self.server.manager.positions.get(sid)
        if position is None:
            raise RecoveryFailed("unavailable")
        last = f"{position[0]}-{position[1]}"
        return await self.streams.after(user_id, last, anchored=last != STREAM_START)

    async def _read_position(self, sid: str, user_id: int) -> None:
        """Move the socket's position up to its user's newest event: nothing older is owed."""
        try:
            newest = await asyncio.wait_for(self.streams.tail(user_id), POSITION_WAIT_SECONDS)
        except Exception as exc:  # Redis down: no position; a replay then says recovery.failed
            log.warning("socket.position_unknown", error=repr(exc))
            return
        self.server.manager.advance(sid, {"event_id": newest})

    async def _recovery_failed(self, sid: str, reason: str) -> None:
        payload = envelope("recovery.failed", {"reason": reason})
        await self.server.manager.send_direct("recovery.failed", payload, sid)

    async def _wait_connected(self, sid: str) -> bool:
        deadline = time.monotonic() + CONNECT_WAIT_SECONDS
        while sid in self._connected and time.monotonic() < deadline:
            if self.server.manager.is_connected(sid, NAMESPACE):
                return True
            await asyncio.sleep(0.005)
        return False

    # -- client events -----------------------------------------------------------------------

    async def subscribe(self, sid: str, principal: Principal, body: dict[str, Any]) -> Any:
        room = room_name(body)
        await self.rooms.authorize(await self.current(principal), room)
        await self.enter_room(sid, room)
        return {"room": room}

    async def unsubscribe(self, sid: str, principal: Principal, body: dict[str, Any]) -> Any:
        room = room_name(body)
        if room == user_room(principal.user_id):
            raise Forbidden("A socket stays in its own user room.")
        await self.leave_room(sid, room)
        return {"room": room}

    async def refresh(self, sid: str, principal: Principal, body: dict[str, Any]) -> Any:
        token = body.get("token")
        if not isinstance(token, str) or not token:
            raise ValidationFailed(fields={"token": "A non-empty access token is required."})
        fresh = await self.guard.principal(self.runtime, token)
        if fresh.user_id != principal.user_id:
            raise Forbidden("The token belongs to another account.")
        await self.save_session(sid, {"principal": fresh})
        self._bind(sid, fresh.session_id)
        expires = fresh.expires_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
        return {"user_id": fresh.user_id, "expires_at": expires}

    def _domain_handler(self, handler: ClientHandler) -> Handler:
        """A domain's event, given the principal with its session's present roles (a revoked
        session is refused here, as for `subscribe`)."""

        async def run(_sid: str, principal: Principal, body: dict[str, Any]) -> Any:
            return await handler(await self.current(principal), body)

        return run

    async def current(self, principal: Principal) -> Principal:
        """The principal with its session's present roles (cached by the guard for seconds)."""
        state = await self.guard.session_state(self.runtime, principal.session_id)
        if state is None or state.revoked or state.disabled:
            raise Unauthorized(
                "This session has ended; sign in again.", code="auth.session_revoked"
            )
        return Principal(principal.user_id, principal.session_id, state.roles, principal.expires_at)

    # -- revocation --------------------------------------------------------------------------

    async def revalidate(self) -> int:
        """Disconnect the sockets of sessions now revoked, gone or disabled; how many were.

        One query per REVALIDATE_BATCH sessions, so 10k connected sockets cost a few reads
        per interval rather than one each.
        """
        closed = 0
        session_ids = list(self.sockets_by_session)
        for start in range(0, len(session_ids), REVALIDATE_BATCH):
            batch = session_ids[start : start + REVALIDATE_BATCH]
            try:
                live = await self.live_sessions(batch)
            except Exception as exc:  # the database is down: keep everyone connected
                log.warning("socket.revalidate_failed", error=repr(exc))
                return closed
            for session_id in batch:
                if session_id in live:
                    continue
                for sid in list(self.sockets_by_session.get(session_id, ())):
                    await self.disconnect(sid)
                    closed += 1
        return closed

    async def live_sessions(self, session_ids: list[int]) -> set[int]:
        """Those of `session_ids` that exist, are not revoked and whose user is active.

        The same liveness as the guard's session state (server.identity.auth.queries.session_state:
        revoked = `revoked_at` set, disabled = user status not `active`), for many at once.
        """
        query = (
            select(AuthSession.id)
            .join(User, User.id == AuthSession.user_id)
            .where(
                AuthSession.id.in_(session_ids),
                AuthSession.revoked_at.is_(None),
                User.status == "active",
            )
        )
        async with self.runtime.db.read() as session:
            return set((await session.execute(query)).scalars())

    def start(self) -> None:
        self.server.manager.on_subscribed = self.resubscribed
        if self._revalidator is None:
            self._revalidator = asyncio.create_task(self._revalidate_forever(), name="socket-auth")

    async def stop(self) -> None:
        self.server.manager.on_subscribed = None
        tasks = [t for t in (self._revalidator, *self._tasks) if t is not None]
        self._revalidator = None
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2)

    async def _revalidate_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.socket_revalidate_seconds)
            try:
                await self.revalidate()
            except Exception as exc:
                log.warning("socket.revalidate_failed", error=repr(exc))


def refuse(error: ApiError) -> NoReturn:
    """connect_error with message `auth.invalid_token` and the precise code in `data.code`."""
    raise socketio.exceptions.ConnectionRefusedError(
        InvalidSocketToken.code, {"code": error.code, "message": error.message}
    )


def room_name(body: dict[str, Any]) -> str:
    room = body.get("room")
    if not isinstance(room, str) or not room or len(room) > MAX_ROOM_NAME:
        raise ValidationFailed(fields={"room": "A room name of 1 to 200 characters is required."})
    return room


REALTIME: web.AppKey[RealtimeNamespace] = web.AppKey("realtime", RealtimeNamespace)
ROOMS: web.AppKey[RoomAccess] = web.AppKey("rooms", RoomAccess)
CLIENT_EVENTS: web.AppKey[ClientEvents] = web.AppKey("client_events", ClientEvents)
