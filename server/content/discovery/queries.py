"""The discovery lists: hot, following and featured, each a keyset page in constant queries.

Pages reuse the content lists' summaries (tags, authors and counters in three more queries).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select

from models.content.counters import ContentCounter
from models.content.items import Content
from models.social.follows import Follow
from server.content.items.queries import SUMMARY_COLUMNS, summary_page
from server.content.items.schemas import ContentSummary
from server.db import Reader
from server.http.pagination import InvalidCursor, Page, decode_cursor


def _position(cursor: str | None, key: str, kind: type) -> tuple[Any, int] | None:
    position = decode_cursor(cursor)
    if position is None:
        return None
    value, last_id = position.get(key), position.get("id")
    if type(last_id) is not int:
        raise InvalidCursor()
    try:
        if kind is datetime:
            at = datetime.fromisoformat(value)  # type: ignore[arg-type]
            if at.tzinfo is None:
                raise InvalidCursor()
            return at, last_id
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise InvalidCursor()
        return float(value), last_id
    except (TypeError, ValueError) as exc:
        raise InvalidCursor() from exc


def hot_statement(*, limit: int, after: tuple[float, int] | None) -> Any:
    """Published items by hot score, read down the (hot_score, content_id) index."""
    statement = (
        select(*SUMMARY_COLUMNS, ContentCounter.hot_score)
        .select_from(ContentCounter)
        .join(Content, Content.id == ContentCounter.content_id)
        .where(Content.status == "published")
    )
    if after is not None:
        score, last_id = after
        statement = statement.where(
            or_(
                ContentCounter.hot_score < score,
                and_(ContentCounter.hot_score == score, ContentCounter.content_id < last_id),
            )
        )
    return (
        # Drive the join from the counters index; MariaDB would otherwise start at contents.
        statement.prefix_with("STRAIGHT_JOIN", dialect="mysql")
        .order_by(ContentCounter.hot_score.desc(), ContentCounter.content_id.desc())
        .limit(limit + 1)
    )


async def list_hot(reader: Reader, *, limit: int, cursor: str | None) -> Page[ContentSummary]:
    """Published items, hottest first."""
    after = _position(cursor, "s", float)
    rows = list((await reader.execute(hot_statement(limit=limit, after=after))).all())
    return await hot_page(reader, rows, limit)


async def hot_page(reader: Reader, rows: list[Any], limit: int) -> Page[ContentSummary]:
    scores = {row.id: row.hot_score for row in rows}
    return await summary_page(
        reader,
        rows,
        limit,
        working=False,
        position=lambda item: {"s": scores[item.id], "id": item.id},
    )


async def followee_ids(reader: Reader, *, user_id: int, cap: int) -> list[int]:
    """Whom the user follows: the `cap` most recently followed (one index range read)."""
    rows = await reader.execute(
        select(Follow.followee_id)
        .where(Follow.follower_id == user_id)
        .order_by(Follow.id.desc())
        .limit(cap)
    )
    return [row.followee_id for row in rows]


def following_statement(
    author_ids: list[int], *, limit: int, after: tuple[datetime, int] | None
) -> Any:
    """Published items of some authors, newest first (no join with follows: see the feed)."""
    statement = select(*SUMMARY_COLUMNS).where(
        Content.status == "published", Content.author_id.in_(author_ids)
    )
    if after is not None:
        published_at, last_id = after
        statement = statement.where(
            or_(
                Content.published_at < published_at,
                and_(Content.published_at == published_at, Content.id < last_id),
            )
        )
    return statement.order_by(Content.published_at.desc(), Content.id.desc()).limit(limit + 1)


async def list_following(
    reader: Reader, *, user_id: int, cap: int, limit: int, cursor: str | None
) -> Page[ContentSummary]:
    """Items by the authors the user follows, newest first.

    The followee ids are read first and the items by `author_id IN (...)` on the (status,
    published_at) index: a join with follows makes MariaDB read every followed author's items
    and sort them. Only the `cap` most recently followed authors count.
    """
    after = _position(cursor, "at", datetime)
    authors = await followee_ids(reader, user_id=user_id, cap=cap)
    if not authors:
        return Page[ContentSummary](items=[], next_cursor=None)
    statement = following_statement(authors, limit=limit, after=after)
    rows = list((await reader.execute(statement)).all())
    return await summary_page(reader, rows, limit, working=False, position=_published_position)


def _published_position(item: ContentSummary) -> dict[str, Any]:
    assert item.published_at is not None
    return {"at": item.published_at.isoformat(), "id": item.id}


def featured_statement(*, limit: int, after: tuple[datetime, int] | None) -> Any:
    """Published featured items, newest featured first, down the featured_at index."""
    statement = select(*SUMMARY_COLUMNS, Content.featured_at).where(
        Content.featured_at.is_not(None), Content.status == "published"
    )
    if after is not None:
        featured_at, last_id = after
        statement = statement.where(
            or_(
                Content.featured_at < featured_at,
                and_(Content.featured_at == featured_at, Content.id < last_id),
            )
        )
    return statement.order_by(Content.featured_at.desc(), Content.id.desc()).limit(limit + 1)


async def list_featured(reader: Reader, *, limit: int, cursor: str | None) -> Page[ContentSummary]:
    """Featured items, newest featured first."""
    after = _position(cursor, "f", datetime)
    rows = list((await reader.execute(featured_statement(limit=limit, after=after))).all())
    featured = {row.id: row.featured_at for row in rows}
    return await summary_page(
        reader,
        rows,
        limit,
        working=False,
        position=lambda item: {"f": featured[item.id].isoformat(), "id": item.id},
    )
