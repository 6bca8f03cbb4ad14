"""Runtime: what a service needs, built the same way by the web process, workers and sockets."""

from __future__ import annotations

import asyncio
import gc
from datetime import timedelta
from typing import Any, cast

import structlog
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession

from server.clock import Clock
from server.crypto import PiiCipher
from server.db import Database, create_engine
from server.outbox import EventSink, JobSink, OutboxRelay
from server.settings import Settings
from server.signing import UrlSigner
from server.storage import Storage, storage_from_settings

log = structlog.get_logger(__name__)


def use_uvloop() -> None:
    """Run the process's event loops on uvloop (web and workers alike): its sockets cost a
    fraction of asyncio's own, which is most of a streaming relay's work."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on every POSIX platform
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def freeze_heap() -> None:
    """Put what start-up built (modules, routes, schemas, mappers) out of the garbage
    collector's sight: a full collection then walks only what requests and jobs made since, so
    its pauses, which stall every stream of the process at once, stay short."""
    gc.collect()
    gc.freeze()


class Runtime:
    """Database, Redis, relay, clock, settings, personal-data cipher, file storage and link
    signer; a composition root attaches the sinks."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        redis: ArqRedis | None,
        pii: PiiCipher | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.redis = redis
        self.clock = Clock()
        # Services reach the settings and clock through their session (notification folding).
        db.sessions.configure(info={"runtime": self})
        self.pii = pii or PiiCipher.from_settings(settings)
        self.storage: Storage = storage_from_settings(settings)
        secret = settings.url_signing_secret
        self.signer = UrlSigner(
            secret.get_secret_value().encode() if secret else self.pii.derive_key("url-signing"),
            settings.public_base_url,
        )
        self.relay: OutboxRelay | None = None
        self.jobs: JobSink | None = None
        self.events: EventSink | None = None

    @classmethod
    async def open(cls, settings: Settings, *, statement_timeout: float | None = None) -> Runtime:
        """Connect to what `settings` name; `statement_timeout` overrides the database deadline."""
        if settings.sqlalchemy_url.startswith("sqlite"):
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        options: dict[str, Any] = {
            "echo": settings.database_echo,
            "lock_timeout": settings.database_lock_timeout_seconds,
            "connect_timeout": settings.database_connect_timeout_seconds,
            "statement_timeout": statement_timeout or settings.database_statement_timeout_seconds,
            "pool_timeout": settings.database_pool_timeout_seconds,
        }
        url = settings.sqlalchemy_url
        engine = create_engine(url, pool_size=settings.database_pool_size, **options)
        # SQLite has one writer anyway: side transactions share the engine there.
        side = None if url.startswith("sqlite") else create_engine(url, pooled=False, **options)
        redis = open_redis(settings.redis_url) if settings.redis_url else None
        return cls(settings, Database(engine, side_engine=side), redis)

    def attach(self, *, jobs: JobSink, events: EventSink) -> None:
        """Plug in where jobs and events go; from now on commits hand outbox rows over at once."""
        self.jobs = jobs
        self.events = events
        self.relay = OutboxRelay(
            self.db.sessions,
            jobs,
            events,
            sweep_after=timedelta(seconds=self.settings.outbox_sweep_after_seconds),
            batch_size=self.settings.outbox_batch_size,
            keep_for=timedelta(seconds=self.settings.job_recovery_after_seconds),
        )
        self.db.after_commit = self.relay.deliver

    async def close(self) -> None:
        self.db.after_commit = None
        await self.db.dispose()
        if self.redis is not None:
            await self.redis.aclose()


def runtime_of(session: AsyncSession) -> Runtime:
    """The runtime that made this session; a session made outside one is a programming error."""
    runtime = session.info.get("runtime")
    if runtime is None:
        raise RuntimeError("This session was not made by a runtime's session factory.")
    return cast("Runtime", runtime)


def settings_of(session: AsyncSession) -> Settings:
    """The settings of the runtime that made this session."""
    return runtime_of(session).settings


def open_redis(url: str, **options: Any) -> ArqRedis:
    """The one Redis client configuration: short timeouts so an outage fails fast."""
    return ArqRedis.from_url(
        url,
        socket_connect_timeout=2,
        socket_timeout=5,
        health_check_interval=30,
        retry_on_timeout=False,
        **options,
    )
