"""Reading the totals."""

from __future__ import annotations

from sqlalchemy import bindparam, select

from models.content.counters import COUNTER_FIELDS, ContentCounter
from server.db import Reader

COLUMNS = tuple(getattr(ContentCounter, name) for name in COUNTER_FIELDS)
# Built once: building a select per request costs more than running it.
_COUNTERS_OF = select(ContentCounter.content_id, *COLUMNS).where(
    ContentCounter.content_id.in_(bindparam("ids", expanding=True))
)


def zero() -> dict[str, int]:
    return dict.fromkeys(COUNTER_FIELDS, 0)


async def counters_of(reader: Reader, content_ids: list[int]) -> dict[int, dict[str, int]]:
    """The counters of several items in one query (zeros for items nobody touched yet)."""
    totals = {content_id: zero() for content_id in content_ids}
    if not content_ids:
        return totals
    rows = await reader.execute(_COUNTERS_OF, {"ids": content_ids})
    for row in rows:
        totals[row.content_id] = {name: int(getattr(row, name)) for name in COUNTER_FIELDS}
    return totals
