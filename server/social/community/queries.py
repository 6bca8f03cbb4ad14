"""Reading topics and posts: pages in a constant number of queries (the page, its authors).

A topic's posts walk `ix_posts_topic_new` / `ix_posts_topic_hot` (topic and status equal, then
pinned, then the sort columns, all backwards): pinned posts come first without a sort.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select

from models.social.community import Post, Topic, TopicMember
from server.content.items.access import Viewer
from server.db import Reader
from server.http.pagination import InvalidCursor, Page, decode_cursor, encode_cursor, page_of
from server.social.community.schemas import PostOut, TopicOut
from server.social.community.service import (
    PostNotFound,
    TopicNotFound,
    authors,
    post_out,
    topic_out,
)

POST_COLUMNS = (
    Post.id,
    Post.topic_id,
    Post.author_id,
    Post.title,
    Post.body,
    Post.status,
    Post.pinned,
    Post.locked,
    Post.reply_count,
    Post.hot_score,
    Post.edited_at,
    Post.created_at,
)
TOPIC_COLUMNS = (
    Topic.id,
    Topic.name,
    Topic.slug,
    Topic.description,
    Topic.creator_id,
    Topic.post_count,
    Topic.member_count,
    Topic.created_at,
)


def _int(position: dict[str, Any], name: str) -> int:
    value = position.get(name)
    if type(value) is not int or not 0 <= value < 2**63:
        raise InvalidCursor()
    return value


async def list_topics(reader: Reader, *, limit: int, cursor: str | None) -> Page[TopicOut]:
    """Topics, newest first."""
    query = select(*TOPIC_COLUMNS)
    position = decode_cursor(cursor)
    if position is not None:
        query = query.where(Topic.id < _int(position, "id"))
    rows = (await reader.execute(query.order_by(Topic.id.desc()).limit(limit + 1))).all()
    return page_of([topic_out(row) for row in rows], limit, lambda item: {"id": item.id})


async def get_topic(reader: Reader, *, topic_id: int) -> TopicOut:
    row = (await reader.execute(select(*TOPIC_COLUMNS).where(Topic.id == topic_id))).one_or_none()
    if row is None:
        raise TopicNotFound()
    return topic_out(row)


def posts_statement(
    *, topic_id: int, sort: str, position: dict[str, Any] | None, limit: int
) -> Any:
    """A page of a topic's visible posts: pinned first, then newest or most replied."""
    query = select(*POST_COLUMNS).where(Post.topic_id == topic_id, Post.status == "visible")
    keys: list[Any] = [Post.pinned]
    if sort == "hot":
        keys.append(Post.hot_score)
    keys.append(Post.id)
    if position is not None:
        values: list[Any] = [min(_int(position, "p"), 1)]
        if sort == "hot":
            values.append(_int(position, "h"))
        values.append(_int(position, "id"))
        # (k1, k2, ...) < (v1, v2, ...) spelled out: both servers walk the index with it.
        clauses = []
        for depth in range(len(keys)):
            equal = [keys[i] == values[i] for i in range(depth)]
            clauses.append(and_(*equal, keys[depth] < values[depth]))
        query = query.where(or_(*clauses))
    return query.order_by(*(key.desc() for key in keys)).limit(limit)


def _position(row: Any, sort: str) -> dict[str, Any]:
    position = {"p": int(bool(row.pinned)), "id": row.id}
    if sort == "hot":
        position["h"] = row.hot_score
    return position


async def list_posts(
    reader: Reader,
    *,
    viewer: Viewer,
    topic_id: int,
    sort: str,
    limit: int,
    cursor: str | None,
) -> Page[PostOut]:
    """A topic's posts, pinned first."""
    await get_topic(reader, topic_id=topic_id)
    statement = posts_statement(
        topic_id=topic_id, sort=sort, position=decode_cursor(cursor), limit=limit + 1
    )
    rows = list((await reader.execute(statement)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    people = await authors(reader, {row.author_id for row in rows})
    items = [
        post_out(row, author=people.get(row.author_id), viewer_id=viewer.user_id) for row in rows
    ]
    next_cursor = encode_cursor(_position(rows[-1], sort)) if more and rows else None
    return Page[PostOut](items=items, next_cursor=next_cursor)


async def get_post(reader: Reader, *, viewer: Viewer, post_id: int) -> PostOut:
    """A visible post (its author and staff see it in any state but deleted)."""
    row = (await reader.execute(select(*POST_COLUMNS).where(Post.id == post_id))).one_or_none()
    own = row is not None and row.author_id == viewer.user_id
    if row is None or row.status == "deleted":
        raise PostNotFound()
    if row.status != "visible" and not (own or viewer.is_staff):
        raise PostNotFound()
    people = await authors(reader, {row.author_id})
    return post_out(row, author=people.get(row.author_id), viewer_id=viewer.user_id)


async def my_topics(
    reader: Reader, *, user_id: int, limit: int, cursor: str | None
) -> Page[TopicOut]:
    """The topics a person joined, latest joined first (ix_topic_members_user_id_created_at);
    the topics themselves are read by primary key."""
    query = select(TopicMember.topic_id, TopicMember.created_at).where(
        TopicMember.user_id == user_id
    )
    position = decode_cursor(cursor)
    if position is not None:
        try:
            at = datetime.fromisoformat(str(position["at"]))
        except (KeyError, ValueError) as exc:
            raise InvalidCursor() from exc
        last = _int(position, "id")
        if at.tzinfo is None:
            raise InvalidCursor()
        query = query.where(
            or_(
                TopicMember.created_at < at,
                and_(TopicMember.created_at == at, TopicMember.topic_id < last),
            )
        )
    query = query.order_by(TopicMember.created_at.desc(), TopicMember.topic_id.desc())
    rows = list((await reader.execute(query.limit(limit + 1))).all())
    more = len(rows) > limit
    rows = rows[:limit]
    ids = [row.topic_id for row in rows]
    topics = {}
    if ids:
        found = await reader.execute(select(*TOPIC_COLUMNS).where(Topic.id.in_(ids)))
        topics = {row.id: topic_out(row) for row in found}
    next_cursor = None
    if more and rows:
        next_cursor = encode_cursor(
            {"at": rows[-1].created_at.isoformat(), "id": rows[-1].topic_id}
        )
    return Page[TopicOut](items=[topics[i] for i in ids if i in topics], next_cursor=next_cursor)
