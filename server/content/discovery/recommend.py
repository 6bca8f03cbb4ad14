"""Recommended for one reader: their tags and follows, or the hot list for a cold start.

How items are scored (simple on purpose):
- The reader's taste is a tag profile: the tags of the items they viewed lately (the list
  `record_view` keeps, up to 50) and of the items they hold a content entitlement for (bought or
  granted, the newest 50). Each such item adds 1 to each of its tags; the 10 heaviest tags count.
- Candidates are published items of the hot window (DISCOVER_HOT_WINDOW_DAYS) carrying any of
  those tags (the 200 with the heaviest tags), and the 100 newest items of the authors they
  follow (the DISCOVER_FOLLOWING_CAP most recently followed).
- An item scores the sum of the weights of its profile tags, plus FOLLOW_BONUS when the reader
  follows its author; ties go to the higher hot score, then to the newer item.
- Left out: the reader's own items, the ones they viewed lately (seen already) and the ones
  they hold an entitlement for (theirs already).
- With no profile and no follows, or no candidate left, the answer is the hot list (its cursor
  continues the hot list). Pages are cut by position in the ranking (`{"o": offset}`), so a
  ranking that changes between pages may repeat or skip an item.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, or_, select

from models.content.counters import ContentCounter
from models.content.items import Content, ContentTag, Entitlement
from server.content import counters
from server.content.discovery import queries
from server.content.items.queries import SUMMARY_COLUMNS, summary_page
from server.content.items.schemas import ContentSummary
from server.http.pagination import InvalidCursor, Page, decode_cursor
from server.runtime import Runtime

PROFILE_ITEMS = 50
PROFILE_TAGS = 10
TAG_CANDIDATES = 200
FOLLOW_CANDIDATES = 100
FOLLOW_BONUS = 3


async def recommended(
    runtime: Runtime, *, user_id: int, limit: int, cursor: str | None
) -> Page[ContentSummary]:
    """A page of the reader's recommendations (or of the hot list)."""
    position = decode_cursor(cursor)
    if position is not None and "o" not in position:
        async with runtime.db.connection() as conn:
            return await queries.list_hot(conn, limit=limit, cursor=cursor)
    offset = 0 if position is None else position["o"]
    if type(offset) is not int or offset < 0:
        raise InvalidCursor()
    viewed = await counters.recent_views(runtime, user_id=user_id)
    now = runtime.clock.now()
    settings = runtime.settings
    async with runtime.db.connection() as conn:
        owned = await _entitled_items(conn, user_id=user_id, now=now)
        weights = await _profile(conn, [*viewed, *owned])
        authors = await queries.followee_ids(
            conn, user_id=user_id, cap=settings.discover_following_cap
        )
        since = now - timedelta(days=settings.discover_hot_window_days)
        scores = await _candidates(conn, weights, authors, user_id=user_id, since=since)
        for content_id in (*viewed, *owned):
            scores.pop(content_id, None)
        if not scores:
            if offset:
                return Page[ContentSummary](items=[], next_cursor=None)
            return await queries.list_hot(conn, limit=limit, cursor=None)
        ranked = await _rank(conn, scores)
        shown = ranked[offset : offset + limit + 1]
        rows = (await conn.execute(select(*SUMMARY_COLUMNS).where(Content.id.in_(shown)))).all()
        by_id = {row.id: row for row in rows}
        ordered = [by_id[content_id] for content_id in shown if content_id in by_id]
        return await summary_page(
            conn, ordered, limit, working=False, position=lambda _item: {"o": offset + limit}
        )


async def _entitled_items(conn: Any, *, user_id: int, now: datetime) -> list[int]:
    rows = await conn.execute(
        select(Entitlement.subject_id)
        .where(
            Entitlement.user_id == user_id,
            Entitlement.subject_type == "content",
            Entitlement.revoked_at.is_(None),
            or_(Entitlement.ends_at.is_(None), Entitlement.ends_at > now),
        )
        .order_by(Entitlement.id.desc())
        .limit(PROFILE_ITEMS)
    )
    return [row.subject_id for row in rows]


async def _profile(conn: Any, content_ids: list[int]) -> dict[int, int]:
    """Tag id -> weight, the heaviest PROFILE_TAGS tags of these items."""
    if not content_ids:
        return {}
    rows = await conn.execute(
        select(ContentTag.tag_id, func.count().label("uses"))
        .where(ContentTag.content_id.in_(set(content_ids)))
        .group_by(ContentTag.tag_id)
    )
    weights = Counter({row.tag_id: int(row.uses) for row in rows})
    return dict(weights.most_common(PROFILE_TAGS))


async def _candidates(
    conn: Any, weights: dict[int, int], authors: list[int], *, user_id: int, since: datetime
) -> dict[int, int]:
    """Content id -> score, before tie-breaks."""
    scores: dict[int, int] = {}
    if weights:
        weight = func.sum(case(weights, value=ContentTag.tag_id, else_=0)).label("weight")
        rows = await conn.execute(
            select(ContentTag.content_id, weight)
            .join(Content, Content.id == ContentTag.content_id)
            .where(
                ContentTag.tag_id.in_(list(weights)),
                Content.status == "published",
                Content.published_at >= since,
                Content.author_id != user_id,
            )
            .group_by(ContentTag.content_id)
            .order_by(weight.desc(), ContentTag.content_id.desc())
            .limit(TAG_CANDIDATES)
        )
        scores = {row.content_id: int(row.weight) for row in rows}
    if authors:
        rows = await conn.execute(
            select(Content.id)
            .where(
                Content.status == "published",
                Content.author_id.in_(authors),
                Content.author_id != user_id,
            )
            .order_by(Content.published_at.desc(), Content.id.desc())
            .limit(FOLLOW_CANDIDATES)
        )
        for row in rows:
            scores[row.id] = scores.get(row.id, 0) + FOLLOW_BONUS
    return scores


async def _rank(conn: Any, scores: dict[int, int]) -> list[int]:
    """Content ids by score, then hot score, then newest."""
    rows = await conn.execute(
        select(ContentCounter.content_id, ContentCounter.hot_score).where(
            ContentCounter.content_id.in_(list(scores))
        )
    )
    hot = {row.content_id: row.hot_score for row in rows}
    return sorted(scores, key=lambda i: (scores[i], hot.get(i, 0.0), i), reverse=True)
