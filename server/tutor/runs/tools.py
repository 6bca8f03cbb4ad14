"""The per-process pieces runs need (the AI gateway with its connection pool, the run feed, the
word list), built once per runtime on first use and closed with it."""

from __future__ import annotations

import os
import weakref

from server.runtime import Runtime
from server.screening import policy_of
from server.settings import Settings
from server.tutor.gateway.client import AIGateway
from server.tutor.gateway.providers import providers_from_env
from server.tutor.runs.answering import Tools
from server.tutor.runs.feed import MemoryRunFeed, RedisRunFeed, RunFeed
from server.tutor.runs.sources import Sources

_TOOLS: weakref.WeakKeyDictionary[Runtime, Tools] = weakref.WeakKeyDictionary()


def gateway_from(settings: Settings) -> AIGateway:
    """The gateway to the providers `AI_PROVIDERS` names (their URLs and keys from the
    environment)."""
    environ = {**os.environ, "AI_PROVIDERS": settings.ai_providers}
    return AIGateway(
        providers_from_env(environ),
        first_byte_timeout=settings.tutor_first_byte_timeout_seconds,
        idle_timeout=settings.tutor_idle_timeout_seconds,
    )


_FEEDS: weakref.WeakKeyDictionary[Runtime, RunFeed] = weakref.WeakKeyDictionary()


def feed_of(runtime: Runtime) -> RunFeed:
    """The run feed of this runtime: Redis streams, or memory in the embedded mode."""
    found = _FEEDS.get(runtime)
    if found is None:
        found = _FEEDS[runtime] = (
            RedisRunFeed(runtime.redis, prefix=f"{runtime.settings.key_prefix}:")
            if runtime.redis is not None
            else MemoryRunFeed()
        )
    return found


def tools_of(runtime: Runtime) -> Tools:
    found = _TOOLS.get(runtime)
    if found is None:
        settings = runtime.settings
        gateway = gateway_from(settings)
        found = _TOOLS[runtime] = Tools(
            gateway=gateway,
            feed=feed_of(runtime),
            word_list=policy_of(settings).word_list,
            retrieve=Sources(gateway, settings),
        )
    return found


def install(runtime: Runtime, tools: Tools) -> None:
    """Use `tools` for this runtime (tests give a gateway pointed at their fake provider)."""
    _TOOLS[runtime] = tools


async def close(runtime: Runtime) -> None:
    found = _TOOLS.pop(runtime, None)
    if found is not None:
        await found.gateway.close()
