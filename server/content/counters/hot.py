"""The hot score: engagement weighted by kind, decayed by age."""

from __future__ import annotations

from datetime import datetime, timedelta

WEIGHTS = {"views": 1, "likes": 4, "favorites": 6, "comments": 5, "shares": 8}
GRAVITY = 1.5


def hot_score(
    counts: dict[str, int], *, published_at: datetime | None, now: datetime, window: timedelta
) -> float:
    """(views + 4 likes + 6 favorites + 5 comments + 8 shares) / (age in hours + 2) ^ 1.5;
    0 for items not published or published longer ago than `window`."""
    if published_at is None or now - published_at > window:
        return 0.0
    age_hours = max(0.0, (now - published_at).total_seconds() / 3600)
    engagement = sum(weight * counts.get(name, 0) for name, weight in WEIGHTS.items())
    return float(engagement / (age_hours + 2) ** GRAVITY)
