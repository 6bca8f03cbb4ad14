"""Reading content as readers see it: one item, and lists in a constant number of queries.

Every read goes through the access policy: items a viewer may not see are left out (404 for
one item), and paid bodies are cut to their preview.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, or_, select

from models.content.counters import ContentCounter
from models.content.items import Content, ContentTag, Tag
from models.identity.users import User
from server.content.counters import counters_of
from server.content.counters.queries import COLUMNS as COUNTER_COLUMNS
from server.content.items import offers
from server.content.items.access import Item, Level, Viewer, access_levels
from server.content.items.schemas import (
    AuthorOut,
    ChapterOut,
    ContentOut,
    ContentSummary,
    ListQuery,
)
from server.content.items.service import ContentNotFound
from server.db import Reader
from server.http.guards import Principal
from server.http.pagination import InvalidCursor, Page, decode_cursor, encode_cursor
from server.runtime import Runtime

SUMMARY_COLUMNS = (
    Content.id,
    Content.kind,
    Content.status,
    Content.author_id,
    Content.parent_id,
    Content.access,
    Content.price_cents,
    Content.currency,
    Content.category_id,
    Content.cover_url,
    Content.published_title,
    Content.published_summary,
    Content.published_at,
)
_AUTHOR_COLUMNS = (
    User.nickname.label("author_nickname"),
    User.avatar_url.label("author_avatar_url"),
)


def _item(row: Any) -> Item:
    return Item(
        id=row.id,
        author_id=row.author_id,
        status=row.status,
        access=row.access,
        parent_id=row.parent_id,
    )


# Hot statements are built once: building a select per request costs more than running it.
_TAGS_OF = (
    select(ContentTag.content_id, Tag.name)
    .join(Tag, Tag.id == ContentTag.tag_id)
    .where(ContentTag.content_id.in_(bindparam("ids", expanding=True)))
    .order_by(Tag.name)
)
_AUTHORS_OF = select(User.id, User.nickname, User.avatar_url).where(
    User.id.in_(bindparam("ids", expanding=True))
)


async def tags_of(reader: Reader, content_ids: list[int]) -> dict[int, list[str]]:
    """The tags of several items in one query."""
    tags: dict[int, list[str]] = {content_id: [] for content_id in content_ids}
    if not content_ids:
        return tags
    rows = await reader.execute(_TAGS_OF, {"ids": content_ids})
    for content_id, name in rows:
        tags[content_id].append(name)
    return tags


async def get_published(
    reader: Reader, *, viewer: Viewer, content_id: int, now: datetime
) -> ContentOut:
    """One item as the viewer may read it: the whole body, the preview, or 404."""
    query = (
        select(
            *SUMMARY_COLUMNS,
            *_AUTHOR_COLUMNS,
            Content.position,
            Content.published_html,
            Content.preview_html,
            *COUNTER_COLUMNS,
        )
        .join(User, User.id == Content.author_id)
        .outerjoin(ContentCounter, ContentCounter.content_id == Content.id)
        .where(Content.id == content_id, Content.published_version.is_not(None))
    )
    row = (await reader.execute(query)).one_or_none()
    if row is None:
        raise ContentNotFound()
    level = (await access_levels(reader, viewer=viewer, items=[_item(row)], now=now))[row.id]
    if level is Level.NONE:
        raise ContentNotFound()
    tags = await tags_of(reader, [row.id])
    chapters = (
        await _chapters(reader, viewer=viewer, course_id=row.id, now=now)
        if row.kind == "course"
        else None
    )
    full = level is Level.FULL
    product_id, plans = await offers.offers_of(reader, content_id=row.id, parent_id=row.parent_id)
    return ContentOut(
        **_summary_fields(row, tags[row.id]),
        html=(row.published_html if full else row.preview_html) or "",
        preview=not full,
        can_read=full,
        parent_id=row.parent_id,
        position=row.position,
        chapters=chapters,
        counters={column.key: int(getattr(row, column.key) or 0) for column in COUNTER_COLUMNS},
        product_id=product_id,
        plans=plans,
    )


async def _chapters(
    reader: Reader, *, viewer: Viewer, course_id: int, now: datetime
) -> list[ChapterOut]:
    rows = (
        await reader.execute(
            select(
                Content.id,
                Content.kind,
                Content.author_id,
                Content.status,
                Content.access,
                Content.parent_id,
                Content.position,
                Content.published_title,
            )
            .where(Content.parent_id == course_id, Content.published_version.is_not(None))
            .order_by(Content.position, Content.id)
        )
    ).all()
    levels = await access_levels(reader, viewer=viewer, items=[_item(r) for r in rows], now=now)
    return [
        ChapterOut(
            id=r.id,
            kind=r.kind,
            title=r.published_title or "",
            position=r.position,
            access=r.access,
            can_read=levels[r.id] is Level.FULL,
        )
        for r in rows
        if levels[r.id] is not Level.NONE
    ]


async def authors_of(reader: Reader, author_ids: set[int]) -> dict[int, AuthorOut]:
    """The authors of a page in one query.

    Read apart from the page on purpose: MariaDB plans `contents JOIN users ... ORDER BY
    published_at LIMIT n` by scanning users first and sorting every item of theirs.
    """
    if not author_ids:
        return {}
    rows = await reader.execute(_AUTHORS_OF, {"ids": list(author_ids)})
    return {
        row.id: AuthorOut(id=row.id, nickname=row.nickname, avatar_url=row.avatar_url)
        for row in rows
    }


def _summary_fields(row: Any, tags: list[str], author: AuthorOut | None = None) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "status": row.status,
        "author": author
        or AuthorOut(
            id=row.author_id, nickname=row.author_nickname, avatar_url=row.author_avatar_url
        ),
        "title": row.published_title or "",
        "summary": row.published_summary or "",
        "access": row.access,
        "price_cents": row.price_cents,
        "currency": row.currency,
        "category_id": row.category_id,
        "tags": tags,
        "cover_url": row.cover_url,
        "published_at": row.published_at,
    }


def list_statement(query: ListQuery, *, after: tuple[datetime, int] | None) -> Any:
    """Published items, newest first, keyed on (published_at, id) for the cursor."""
    statement = select(*SUMMARY_COLUMNS).where(Content.status == "published")
    if query.kind is not None:
        statement = statement.where(Content.kind == query.kind)
    if query.category_id is not None:
        statement = statement.where(Content.category_id == query.category_id)
    if query.author_id is not None:
        statement = statement.where(Content.author_id == query.author_id)
    if query.price == "free":
        statement = statement.where(Content.access == "free")
    elif query.price == "paid":
        statement = statement.where(Content.access != "free")
    if query.featured:
        statement = statement.where(Content.featured_at.is_not(None))
    if query.tag is not None:
        tagged = (
            select(ContentTag.content_id)
            .join(Tag, Tag.id == ContentTag.tag_id)
            .where(Tag.name == query.tag.strip().lower())
        )
        statement = statement.where(Content.id.in_(tagged))
    if after is not None:
        published_at, last_id = after
        statement = statement.where(
            or_(
                Content.published_at < published_at,
                and_(Content.published_at == published_at, Content.id < last_id),
            )
        )
    return statement.order_by(Content.published_at.desc(), Content.id.desc()).limit(query.limit + 1)


def _after(cursor: str | None) -> tuple[datetime, int] | None:
    position = decode_cursor(cursor)
    if position is None:
        return None
    try:
        at, last_id = datetime.fromisoformat(position["at"]), int(position["id"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidCursor() from exc
    if at.tzinfo is None:  # we only ever issue UTC times
        raise InvalidCursor()
    return at, last_id


async def list_published(
    reader: Reader, *, query: ListQuery, now: datetime
) -> Page[ContentSummary]:
    """A page of published items (titles and summaries are public), in three queries."""
    rows = (await reader.execute(list_statement(query, after=_after(query.cursor)))).all()
    return await summary_page(
        reader, list(rows), query.limit, working=False, position=_published_position
    )


def _published_position(item: ContentSummary) -> dict[str, Any]:
    assert item.published_at is not None
    return {"at": item.published_at.isoformat(), "id": item.id}


async def summary_page(
    reader: Reader, rows: list[Any], limit: int, *, working: bool, position: Any
) -> Page[ContentSummary]:
    """Summaries of up to `limit` rows with their tags, authors and counters (three more)."""
    shown = rows[:limit]
    tags = await tags_of(reader, [row.id for row in shown])
    authors = await authors_of(reader, {row.author_id for row in shown})
    counters = await counters_of(reader, [row.id for row in shown])
    items = []
    for row in shown:
        fields = _summary_fields(row, tags[row.id], authors[row.author_id])
        fields["counters"] = counters[row.id]
        if working:
            fields["title"], fields["summary"] = row.title, row.summary
        items.append(ContentSummary(**fields))
    next_cursor = encode_cursor(position(items[-1])) if len(rows) > limit and items else None
    return Page[ContentSummary](items=items, next_cursor=next_cursor)


async def list_mine(
    reader: Reader, *, author_id: int, status: str | None, limit: int, cursor: str | None
) -> Page[ContentSummary]:
    """The author's own items in any state (working titles), newest first."""
    return await _by_id(
        reader,
        select(*SUMMARY_COLUMNS, Content.title, Content.summary).where(
            Content.author_id == author_id, *([Content.status == status] if status else [])
        ),
        limit=limit,
        cursor=cursor,
        newest_first=True,
    )


async def review_queue(reader: Reader, *, limit: int, cursor: str | None) -> Page[ContentSummary]:
    """Items with a version waiting for a moderator, oldest first."""
    return await _by_id(
        reader,
        select(*SUMMARY_COLUMNS, Content.title, Content.summary).where(
            Content.review_version.is_not(None)
        ),
        limit=limit,
        cursor=cursor,
        newest_first=False,
    )


async def _by_id(
    reader: Reader, statement: Any, *, limit: int, cursor: str | None, newest_first: bool
) -> Page[ContentSummary]:
    position = decode_cursor(cursor)
    if position is not None:
        last = position.get("id")
        if type(last) is not int:
            raise InvalidCursor()
        statement = statement.where(Content.id < last if newest_first else Content.id > last)
    order = Content.id.desc() if newest_first else Content.id.asc()
    rows = (await reader.execute(statement.order_by(order).limit(limit + 1))).all()
    return await summary_page(
        reader, list(rows), limit, working=True, position=lambda i: {"id": i.id}
    )


def room_check(runtime: Callable[[], Runtime]) -> Callable[[Principal, str], Awaitable[bool]]:
    """Who may join `content:<id>` (live counters, new comments): whoever can see the item."""

    async def check(principal: Principal, room_id: str) -> bool:
        # isdigit alone passes "²" and other digits int() refuses.
        if not (room_id.isascii() and room_id.isdigit()) or len(room_id) > 18:
            return False
        current = runtime()
        viewer = Viewer(principal.user_id, principal.roles)
        async with current.db.connection() as conn:
            row = (
                await conn.execute(
                    select(
                        Content.id,
                        Content.author_id,
                        Content.status,
                        Content.access,
                        Content.parent_id,
                    ).where(Content.id == int(room_id))
                )
            ).one_or_none()
            if row is None:
                return False
            levels = await access_levels(
                conn, viewer=viewer, items=[_item(row)], now=current.clock.now()
            )
        return levels[row.id] is not Level.NONE

    return check
