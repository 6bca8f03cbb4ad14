"""The search index as publishing sees it: a port the composition roots fill.

Items decide when an item's searchable text changes (a version published, a published item's
settings or tags changed, archive, restore); the search package decides what of it is indexed.
Both calls run in the caller's session, so the index row commits or rolls back with the change
that caused it, under the caller's lock on the content row.

Nothing is indexed until a composition root registers the index (`server/app.py` for the web
process, `jobs/worker.py` for the workers); publishing without one is refused rather than
leaving a stale row that could still hold text the item's new access level hides.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession


class SearchIndex(Protocol):
    """What publishing needs of search (`server.content.search.service` provides it)."""

    async def index_content(
        self, session: AsyncSession, *, content_id: int, now: datetime | None = None
    ) -> bool: ...

    async def remove_content(self, session: AsyncSession, *, content_id: int) -> None: ...


class NoSearchIndex(RuntimeError):
    """Content was published in a process whose composition root registered no search index."""

    def __init__(self) -> None:
        super().__init__("no search index is registered (the composition root wires one)")


_index: SearchIndex | None = None

# Wings above content that keep something of their own from an item's published text (the
# tutor's passages) follow it here, called with the caller's session after the index; a
# follower of a wing above is registered by a composition root, so items never import it.
Follower = Callable[..., Awaitable[None]]  # (session, *, content_id) -> None
_followers: list[Follower] = []


def register(index: SearchIndex) -> None:
    """Make `index` the one publishing keeps current (idempotent)."""
    global _index
    _index = index


def follow(follower: Follower) -> None:
    """Also call `follower(session, content_id=...)` whenever an item's published text may have
    changed (idempotent)."""
    if follower not in _followers:
        _followers.append(follower)


async def _tell_followers(session: AsyncSession, *, content_id: int) -> None:
    for follower in _followers:
        await follower(session, content_id=content_id)


def _registered() -> SearchIndex:
    if _index is None:
        raise NoSearchIndex()
    return _index


async def index_content(session: AsyncSession, *, content_id: int, now: datetime) -> None:
    """Rebuild the item's row from its published version, in the caller's transaction."""
    await _registered().index_content(session, content_id=content_id, now=now)
    await _tell_followers(session, content_id=content_id)


async def remove_content(session: AsyncSession, *, content_id: int) -> None:
    """Take the item out of search, in the caller's transaction."""
    await _registered().remove_content(session, content_id=content_id)
    await _tell_followers(session, content_id=content_id)
