"""Cleanup contexts: each resource is opened at start-up and closed at shutdown, in order."""

from __future__ import annotations

from collections.abc import AsyncIterator

import structlog
from aiohttp import web

from jobs.inprocess import InProcessJobRunner
from jobs.sinks import ArqJobSink
from jobs.tasks import TASKS
from realtime.events import SocketEventSink
from realtime.namespace import CLIENT_EVENTS, REALTIME, ROOMS, RealtimeNamespace
from realtime.server import close_socket_server
from realtime.streams import event_streams
from server.http.ratelimit import RateLimiter
from server.keys import (
    JOB_RUNNER,
    METRICS,
    RATE_LIMITER,
    RUNTIME,
    SESSION_GUARD,
    SETTINGS,
    SOCKETS,
)
from server.runtime import Runtime
from server.social.presence.service import PresenceTracker, register_local
from server.tutor.gateway import tokens as tutor_tokens
from server.tutor.runs import tools as tutor_tools

log = structlog.get_logger("server")


async def runtime_ctx(app: web.Application) -> AsyncIterator[None]:
    """The database engine and the Redis client."""
    runtime = await Runtime.open(app[SETTINGS])
    app[RUNTIME] = runtime
    tutor_tokens.load()  # the tutor's token estimator, before the first question
    yield
    await tutor_tools.close(runtime)  # the AI gateway's connections, if runs were answered here
    await runtime.close()


async def sockets_ctx(app: web.Application) -> AsyncIterator[None]:
    """The Socket.IO namespace (auth, rooms, recovery, revocation checks) and the server's
    background work and pub/sub connection, closed at shutdown."""
    settings, runtime = app[SETTINGS], app[RUNTIME]
    presence = PresenceTracker(runtime)
    forget_presence = register_local(presence)
    namespace = RealtimeNamespace(
        settings=settings,
        guard=app[SESSION_GUARD],
        runtime=runtime,
        streams=event_streams(settings, runtime.redis),
        rooms=app[ROOMS],
        metrics=app[METRICS],
        client_events=app.get(CLIENT_EVENTS),
        hooks=presence,
    )
    app[SOCKETS].register_namespace(namespace)
    app[REALTIME] = namespace
    namespace.start()
    presence.start()
    yield
    await namespace.stop()
    await close_socket_server(app[SOCKETS])
    await presence.stop()
    forget_presence()


async def rate_limit_ctx(app: web.Application) -> AsyncIterator[None]:
    """Rate limits, synced to Redis in the background."""
    settings, runtime = app[SETTINGS], app[RUNTIME]
    limiter = RateLimiter(
        redis=runtime.redis,
        redis_url=settings.redis_url,
        prefix=settings.key_prefix,
        per_ip=settings.rate_limit_ip,
        per_account=settings.rate_limit_account,
        sync_seconds=settings.rate_limit_sync_seconds,
    )
    app[RATE_LIMITER] = limiter
    limiter.counter.start()
    yield
    await limiter.counter.stop()


async def jobs_ctx(app: web.Application) -> AsyncIterator[None]:
    """Where outbox rows go: arq on Redis, or the in-process runner in the embedded mode."""
    settings, runtime = app[SETTINGS], app[RUNTIME]
    events = SocketEventSink(app[SOCKETS], streams=app[REALTIME].streams)
    if runtime.redis is not None:
        runtime.attach(jobs=ArqJobSink(runtime.redis, settings), events=events)
        yield
        return
    runner = InProcessJobRunner(
        TASKS.functions,
        TASKS.cron_jobs(),
        {"runtime": runtime, "metrics": app[METRICS]},
        default_timeout=settings.job_timeout_seconds,
    )
    runtime.attach(jobs=runner, events=events)
    app[JOB_RUNNER] = runner
    runner.start()
    yield
    await runner.stop()
