"""A database that resets, stops answering or runs out of connections answers 503, fast.

The engine is the production one (server/db.py create_engine) against the suite's MariaDB, with
a TCP server of the test's own or the system tests' FaultProxy on the path to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import struct
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import uvloop
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine

from server.db import (
    HANDSHAKE_RESET,
    create_engine,
    is_lock_conflict,
    is_unavailable,
    retry_lock_conflicts,
)
from server.http.errors import ServiceUnavailable
from server.http.middleware import to_api_error
from server.settings import normalise_database_url
from tests.system.harness import FaultProxy


@pytest.fixture
def resetting_server() -> Iterator[int]:
    """A port whose every connection is reset (RST, not FIN) right after it is accepted."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)

    def serve() -> None:
        while True:
            try:
                accepted, _ = listener.accept()
            except OSError:
                return
            time.sleep(0.01)  # after the client saw its connect succeed
            accepted.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            accepted.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    listener.shutdown(socket.SHUT_RDWR)
    listener.close()
    thread.join(5)


class ResetLandsFirst(uvloop.Loop):  # type: ignore[misc]
    """uvloop, the web process's loop, where the peer's reset is always read before the caller
    of create_connection resumes: the narrow window in which asyncmy's handshake meets a
    transport without a socket, made certain instead of rare."""

    async def create_connection(self, *args: Any, **kwargs: Any) -> Any:
        transport, protocol = await super().create_connection(*args, **kwargs)
        for _ in range(400):
            if transport.is_closing():
                break
            await asyncio.sleep(0.005)
        return transport, protocol


class ConnectBreaksOtherwise(uvloop.Loop):  # type: ignore[misc]
    """A loop whose connect fails with some other RuntimeError, out of asyncmy's connect()."""

    async def create_connection(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("something else broke")


def _connect_many(
    url: str, attempts: int, loop_factory: type[uvloop.Loop] = ResetLandsFirst
) -> list[BaseException]:
    """`attempts` connections, one at a time, each on a fresh engine: their failures."""

    async def run() -> list[BaseException]:
        failures: list[BaseException] = []
        for _ in range(attempts):
            engine = create_engine(url, pool_size=1, connect_timeout=2, statement_timeout=2)
            try:
                async with engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
            except BaseException as exc:
                failures.append(exc)
            finally:
                await engine.dispose()
        return failures

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(run())


async def test_a_connection_reset_during_the_handshake_is_unavailable_not_a_bug(
    resetting_server: int,
) -> None:
    url = f"mysql+asyncmy://nobody:nothing@127.0.0.1:{resetting_server}/nothing"
    failures = await asyncio.to_thread(_connect_many, url, 3)

    assert len(failures) == 3
    for failure in failures:
        # asyncmy raised a bare RuntimeError (which used to escape as a 500)...
        assert isinstance(failure, OperationalError), repr(failure)
        assert str(failure.orig.__cause__) == HANDSHAKE_RESET
        # ...now a lost connection, answered as 503.
        assert is_unavailable(failure)
        assert isinstance(to_api_error(failure), ServiceUnavailable)


async def test_any_other_runtime_error_while_connecting_stays_a_bug(
    resetting_server: int,
) -> None:
    url = f"mysql+asyncmy://nobody:nothing@127.0.0.1:{resetting_server}/nothing"
    [failure] = await asyncio.to_thread(_connect_many, url, 1, ConnectBreaksOtherwise)

    assert type(failure) is RuntimeError and str(failure) == "something else broke"
    assert not is_unavailable(failure)
    assert to_api_error(failure) is None  # a 500, logged with its traceback


# --- deadlines ------------------------------------------------------------------------------------


@pytest.fixture
async def partitionable(database_url: str) -> AsyncIterator[FaultProxy]:
    proxy = await FaultProxy.for_url(database_url)
    yield proxy
    await proxy.close()


async def _failure_of(engine: AsyncEngine, deadline: float = 1.0) -> BaseException:
    """What one statement raised, which it must do within its deadline (a few seconds spare)."""
    started = time.monotonic()
    try:
        async with asyncio.timeout(deadline + 15), engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except TimeoutError:
        raise AssertionError("no deadline: the statement was still waiting after 15 s") from None
    except Exception as exc:
        took = time.monotonic() - started
        assert took < deadline + 3, f"failed only after {took:.1f} s"
        return exc
    raise AssertionError("the statement was answered through a partition")


async def test_a_statement_the_database_never_answers_fails_within_its_deadline(
    database_url: str, partitionable: FaultProxy
) -> None:
    engine = create_engine(
        normalise_database_url(partitionable.url(database_url)),
        pool_size=2,
        connect_timeout=1,
        statement_timeout=1,
        pool_timeout=1,
    )
    try:
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT 1")) == 1

        partitionable.blackhole()
        # A pooled connection: its statement is never answered.
        stalled = await _failure_of(engine)
        assert isinstance(stalled, OperationalError), repr(stalled)
        assert is_unavailable(stalled) and stalled.connection_invalidated
        # A new connection: the TCP connect succeeds, the handshake is never answered.
        handshake = await _failure_of(engine)
        assert isinstance(handshake, OperationalError), repr(handshake)
        assert is_unavailable(handshake)

        partitionable.restore()
        # Nothing stale is reused: the next statement gets a fresh connection and an answer.
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT 2")) == 2
    finally:
        await engine.dispose()


async def test_a_request_for_a_connection_waits_for_the_pool_at_most_its_deadline(
    database_url: str,
) -> None:
    engine = create_engine(normalise_database_url(database_url), pool_size=1, pool_timeout=0.5)
    try:
        async with engine.connect() as first, engine.connect() as second:  # pool and overflow
            await first.execute(text("SELECT 1"))
            await second.execute(text("SELECT 1"))
            started = time.monotonic()
            with pytest.raises(PoolTimeout) as exhausted:
                async with engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
            assert time.monotonic() - started < 0.5 + 2
            assert isinstance(to_api_error(exhausted.value), ServiceUnavailable)
    finally:
        await engine.dispose()


async def test_a_row_lock_waited_for_ends_with_the_servers_error_before_the_deadline(
    database_url: str,
) -> None:
    # Deadline 3 s: the server gives up waiting for the lock after 2 s, with its own error, and
    # the connection lives on (dropping it would leave the server waiting for nobody).
    probe = probe_table(database_url, "(id INT PRIMARY KEY)", "(1)", deadline=3)
    async with probe as (engine, table), engine.connect() as holder, engine.connect() as waiter:
        await holder.execute(text(f"SELECT id FROM {table} WHERE id = 1 FOR UPDATE"))
        with pytest.raises(OperationalError) as waited:
            await waiter.execute(text(f"SELECT id FROM {table} WHERE id = 1 FOR UPDATE"))
        assert waited.value.orig is not None and waited.value.orig.args[0] == 1205
        assert not waited.value.connection_invalidated
        assert isinstance(to_api_error(waited.value), ServiceUnavailable)
        await waiter.rollback()
        assert await waiter.scalar(text("SELECT 1")) == 1


@contextlib.asynccontextmanager
async def probe_table(
    database_url: str, columns: str, rows: str, *, deadline: float
) -> AsyncIterator[tuple[AsyncEngine, str]]:
    """A production engine (statements cut at `deadline` s) and a scratch table of its own,
    `CREATE TABLE <name> <columns>` holding `rows`, dropped afterwards."""
    engine = create_engine(
        normalise_database_url(database_url), pool_size=3, statement_timeout=deadline
    )
    table = f"probe_{secrets.token_hex(3)}"
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f"CREATE TABLE {table} {columns}"))
            await conn.execute(text(f"INSERT INTO {table} VALUES {rows}"))
        yield engine, table
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
        await engine.dispose()


async def test_a_transaction_a_deadlock_rolled_back_is_run_again_whole(database_url: str) -> None:
    columns, rows = "(id INT PRIMARY KEY, n INT)", "(1, 0), (2, 0)"
    async with probe_table(database_url, columns, rows, deadline=10) as (engine, table):
        first_locked, second_locked = asyncio.Event(), asyncio.Event()
        attempts: list[int] = []

        async def one_then_two() -> None:
            attempts.append(1)
            async with engine.begin() as conn:
                await conn.execute(text(f"UPDATE {table} SET n = n + 1 WHERE id = 1"))
                first_locked.set()
                await second_locked.wait()
                await asyncio.sleep(0.2)  # the other is waiting for row 1 by now
                await conn.execute(text(f"UPDATE {table} SET n = n + 1 WHERE id = 2"))

        async def two_then_one() -> None:
            attempts.append(1)
            async with engine.begin() as conn:
                await conn.execute(text(f"UPDATE {table} SET n = n + 10 WHERE id = 2"))
                if not second_locked.is_set():
                    second_locked.set()
                    await first_locked.wait()
                await conn.execute(text(f"UPDATE {table} SET n = n + 10 WHERE id = 1"))

        outcomes = await asyncio.gather(
            retry_lock_conflicts(one_then_two),
            retry_lock_conflicts(two_then_one),
            return_exceptions=True,
        )
        assert outcomes == [None, None]
        async with engine.connect() as conn:
            found = dict((await conn.execute(text(f"SELECT id, n FROM {table}"))).all())
        assert found == {1: 11, 2: 11}  # each transaction applied once, the victim's on its retry
        assert len(attempts) == 3  # one of them was rolled back by the deadlock and run again
        with pytest.raises(DBAPIError) as refused:
            async with engine.begin() as conn:
                await conn.execute(text(f"INSERT INTO {table} VALUES (1, 0)"))
        assert not is_lock_conflict(refused.value)  # a duplicate key is not retried
