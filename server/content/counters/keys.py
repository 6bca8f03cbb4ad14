"""Where counters live in Redis, under the deployment's key prefix."""

from __future__ import annotations

from server.settings import Settings


def item_key(settings: Settings, content_id: int | str) -> str:
    """The hash of one item's pending increments (`views`, ..., `share:<channel>`)."""
    return settings.channel(f"counters:item:{content_id}")


def dirty_key(settings: Settings) -> str:
    """The set of items with pending increments."""
    return settings.channel("counters:dirty")


def batch_key(settings: Settings, batch_id: str) -> str:
    """A claimed batch: `<content id>:<field>` -> increment."""
    return settings.channel(f"counters:batch:{batch_id}")


def batches_key(settings: Settings) -> str:
    """Claimed batches not yet deleted, scored by when they were claimed (ms)."""
    return settings.channel("counters:batches")


def seen_key(settings: Settings, what: str, viewer: str) -> str:
    """Set (NX, with a TTL) when a viewer was counted for `what` (a view, a share channel)."""
    return settings.channel(f"counters:seen:{what}:{viewer}")


def recent_key(settings: Settings, user_id: int) -> str:
    """A reader's recently viewed items, newest first."""
    return settings.channel(f"counters:recent:{user_id}")


def counted_key(settings: Settings, change_id: str) -> str:
    """Set (NX, with a TTL) when a committed change set was added to the pending increments."""
    return settings.channel(f"counters:counted:{change_id}")
