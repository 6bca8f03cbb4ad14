"""Database engine and the unit of work: one transaction, its outbox, hand-off after commit."""

from __future__ import annotations

import asyncio
import math
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Connection, event, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from server.outbox import Outbox, Written

AfterCommit = Callable[[list[Written]], Awaitable[object]]
# What a read-only query function accepts: a session, or a bare connection on hot paths.
Reader = AsyncSession | AsyncConnection

# Errors that mean "the database is unreachable or overloaded", answered as 503.
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (OperationalError, PoolTimeout, OSError)


def is_unavailable(exc: BaseException) -> bool:
    """True when an error says the database could not be reached, not that a query was wrong."""
    if isinstance(exc, DBAPIError) and not isinstance(exc, OperationalError):
        return bool(exc.connection_invalidated)
    return isinstance(exc, UNAVAILABLE_ERRORS)


# MariaDB's "Deadlock found when trying to get lock" and "Lock wait timeout exceeded": the
# transaction was rolled back whole and may simply be run again.
LOCK_CONFLICTS = frozenset({1213, 1205})


def is_lock_conflict(exc: BaseException) -> bool:
    """True when the database rolled the transaction back for a lock conflict (retry it)."""
    if not isinstance(exc, DBAPIError):
        return False
    args: tuple[Any, ...] = tuple(getattr(exc.orig, "args", ()))
    return bool(args) and args[0] in LOCK_CONFLICTS


async def retry_lock_conflicts[T](
    attempt: Callable[[], Awaitable[T]], *, tries: int = 5, pause: float = 0.05
) -> T:
    """Run `attempt` (a whole transaction) again when a deadlock or lock wait rolled it back;
    for work that is safe to run twice because it checks, under its locks, what it changes."""
    for n in range(tries):
        try:
            return await attempt()
        except DBAPIError as exc:
            if not is_lock_conflict(exc) or n == tries - 1:
                raise
            await asyncio.sleep(pause * (n + 1))
    raise AssertionError("unreachable")


# Where a session finds the engine for short transactions of their own (`Database`).
SIDE_ENGINE = "sharestack_side_engine"
# Execution option marking a read-only engine: on SQLite its transactions begin deferred.
READS_ONLY = "sharestack_reads_only"


# What asyncmy raises, as a bare RuntimeError, when the server (or something on the path to it)
# resets the connection between the TCP connect and the handshake: under uvloop the closed
# transport no longer has a socket to set options on. Matched by its text, so that any other
# RuntimeError stays a bug (500).
HANDSHAKE_RESET = "Transport does not expose socket instance"
# MySQL's client error "Lost connection to MySQL server": SQLAlchemy treats it as a disconnect.
CR_SERVER_LOST = 2013


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    echo: bool = False,
    lock_timeout: float = 30.0,
    connect_timeout: float = 5.0,
    statement_timeout: float = 10.0,
    pool_timeout: float = 5.0,
    pooled: bool = True,
) -> AsyncEngine:
    """The engine for `url`; `lock_timeout` is how long a SQLite writer waits for the lock.
    `pooled=False` opens a connection per use and keeps none (a side engine, see `Database`).

    On MariaDB every call has a deadline: a TCP connect gives up after `connect_timeout`, a wait
    for the server's answer (the handshake included) after `statement_timeout`, a wait for a
    pooled connection after `pool_timeout`. A connection whose answer did not come in time is
    closed and never reused (its stream may still carry the late answer), and the error is a
    disconnect, answered as 503."""
    if url.startswith("sqlite"):
        return _create_sqlite_engine(url, echo=echo, lock_timeout=lock_timeout)
    pooling: dict[str, Any] = (
        {
            "pool_size": pool_size,
            "max_overflow": pool_size,
            "pool_recycle": 1800,
            # No ping per checkout (a round trip on every request). A connection the server
            # closed fails its first statement; SQLAlchemy then invalidates the whole pool, so
            # after a database restart one request answers 503 and the next ones get fresh
            # connections.
            "pool_pre_ping": False,
            "pool_timeout": pool_timeout,
        }
        if pooled
        else {"poolclass": NullPool}
    )
    engine = create_async_engine(
        url,
        echo=echo,
        **pooling,
        connect_args={
            "connect_timeout": connect_timeout,
            "read_timeout": statement_timeout,
            # A wait for a row lock ends with the server's own error (1205: 503, the connection
            # kept) before the deadline drops the connection, which would leave the server
            # waiting for the lock on behalf of nobody.
            "init_command": f"SET SESSION innodb_lock_wait_timeout={_lock_wait(statement_timeout)}",
        },
    )

    @event.listens_for(engine.sync_engine, "do_connect")
    def _connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        dbapi = dialect.loaded_dbapi
        try:
            return dbapi.connect(*cargs, **cparams)
        except RuntimeError as exc:
            if str(exc) != HANDSHAKE_RESET:
                raise
            raise dbapi.OperationalError(
                CR_SERVER_LOST, f"Lost connection to MySQL server during handshake ({exc})"
            ) from exc

    return engine


def _lock_wait(statement_timeout: float) -> int:
    """Whole seconds, at least one, a second short of the statement deadline when it allows."""
    return max(1, math.ceil(statement_timeout) - 1)


def _create_sqlite_engine(url: str, *, echo: bool, lock_timeout: float) -> AsyncEngine:
    """SQLite with serialised writers: SQLite ignores FOR UPDATE, so a transaction that may write
    takes the write lock when it begins (BEGIN IMMEDIATE) and the next writer waits for it, up
    to `lock_timeout` seconds ("database is locked" after that, answered as 503)."""
    engine = create_async_engine(url, echo=echo, connect_args={"timeout": lock_timeout})

    @event.listens_for(engine.sync_engine, "connect")
    def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
        # The driver's own transaction control runs SELECTs outside any transaction (it BEGINs
        # only before the first INSERT/UPDATE/DELETE); "begin" below takes that job over.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={round(lock_timeout * 1000)}")
        cursor.close()

    writers: weakref.WeakKeyDictionary[asyncio.Task[Any], Connection] = weakref.WeakKeyDictionary()

    @event.listens_for(engine.sync_engine, "begin")
    def _sqlite_begin(conn: Connection) -> None:
        # Readers begin deferred: in WAL mode they read a snapshot and neither wait nor block.
        if conn.get_execution_options().get(READS_ONLY, False):
            conn.exec_driver_sql("BEGIN DEFERRED")
            return
        task = asyncio.current_task()
        held = writers.get(task) if task is not None else None
        if held is not None and held is not conn and not held.closed and held.in_transaction():
            raise NestedWriter()
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        if task is not None:
            writers[task] = conn

    return engine


class NestedWriter(RuntimeError):
    """A write transaction began while the same task holds another: on SQLite it would wait for
    a lock its own task holds until the lock timeout, so it fails at once (a bug to fix)."""

    def __init__(self) -> None:
        super().__init__("a unit of work was opened inside another one of the same task")


class KeepsChanges(Exception):
    """Mixin for errors raised after changes that must persist (a revocation on token reuse):
    the unit of work commits them, then lets the error through."""


_OUTBOX = "db.outbox"  # session.info key of its unit of work's outbox


class UnitOfWork:
    """A session and its outbox; both commit or roll back together."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.outbox = session.info[_OUTBOX] = Outbox(session)


def outbox_of(session: AsyncSession) -> Outbox:
    """The outbox of the unit of work `session` belongs to, for code handed only the session (a
    port's subscriber): its rows are relayed at commit like the caller's own."""
    found = session.info.get(_OUTBOX)
    return found if isinstance(found, Outbox) else Outbox(session)


class Database:
    """The engine, a session factory and the unit-of-work entry point."""

    def __init__(
        self,
        engine: AsyncEngine,
        after_commit: AfterCommit | None = None,
        *,
        side_engine: AsyncEngine | None = None,
    ) -> None:
        self.engine = engine
        # A short transaction of its own, beside the caller's (the ledger creating an account),
        # takes its connection here: an unpooled engine disposed with this one, so callers that
        # hold every pooled connection never wait on the pool for it. Sessions find it in
        # `session.info[SIDE_ENGINE]`; without one, the side transaction uses this engine.
        self.side_engine = side_engine
        self.sessions = async_sessionmaker(
            engine,
            expire_on_commit=False,
            autoflush=False,
            info={SIDE_ENGINE: side_engine or engine},
        )
        # Reads go through this one: on SQLite they begin deferred instead of taking the write lock.
        self.reader = (
            engine.execution_options(**{READS_ONLY: True})
            if engine.dialect.name == "sqlite"
            else engine
        )
        self.after_commit = after_commit

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[UnitOfWork]:
        """Commit on success, roll back on error; relay outbox rows only after commit."""
        kept: KeepsChanges | None = None
        async with self.sessions() as session:
            uow = UnitOfWork(session)
            try:
                yield uow
            except KeepsChanges as exc:
                kept = exc
            except BaseException:
                await session.rollback()
                raise
            await session.commit()
        if self.after_commit is not None and (written := uow.outbox.written):
            await self.after_commit(written)
        if kept is not None:
            raise kept

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for reads only: no outbox and no commit round trip (on SQLite, no write lock:
        what it writes is not serialised with other writers)."""
        async with self.sessions(bind=self.reader) as session:
            yield session

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        """A bare connection for Core reads on hot paths: no ORM session to build and close."""
        async with self.reader.connect() as conn:
            yield conn

    async def ping(self) -> None:
        async with self.reader.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.side_engine is not None:
            await self.side_engine.dispose()
