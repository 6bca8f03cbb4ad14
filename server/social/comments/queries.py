"""Reading comments: pages of roots (hot or new), a thread's replies, in a constant number of
queries whatever the page size (the page, its authors and answered authors, the caller's likes).

The lists walk `ix_comments_target_new` / `ix_comments_target_hot` (equality on target and
`root_id IS NULL`, then the sort columns), and a thread walks `ix_comments_root_id_id`: no sort.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, or_, select

from models.identity.users import User
from models.social.comments import Comment, CommentLike
from server.content.items.access import Viewer
from server.content.items.schemas import AuthorOut
from server.db import Reader
from server.http.errors import NotFound
from server.http.pagination import InvalidCursor, Page, decode_cursor, encode_cursor
from server.social.comments.schemas import CommentOut, ThreadOut
from server.social.comments.targets import TargetNotFound, target_of


class CommentNotFound(NotFound):
    code, message = "comments.not_found", "There is no such comment."


COLUMNS = (
    Comment.id,
    Comment.target_type,
    Comment.target_id,
    Comment.author_id,
    Comment.parent_id,
    Comment.root_id,
    Comment.body,
    Comment.status,
    Comment.edited_at,
    Comment.like_count,
    Comment.reply_count,
    Comment.hot_score,
    Comment.created_at,
)
_AUTHORS = select(User.id, User.nickname, User.avatar_url).where(
    User.id.in_(bindparam("ids", expanding=True))
)
_PARENT_AUTHORS = select(Comment.id, Comment.author_id).where(
    Comment.id.in_(bindparam("ids", expanding=True))
)
_LIKED = select(CommentLike.comment_id).where(
    CommentLike.user_id == bindparam("user_id"),
    CommentLike.comment_id.in_(bindparam("ids", expanding=True)),
)


def _int(position: dict[str, Any], name: str) -> int:
    value = position.get(name)
    if type(value) is not int or not 0 <= value < 2**63:
        raise InvalidCursor()
    return value


def roots_statement(
    *, target_type: str, target_id: int, sort: str, position: dict[str, Any] | None, limit: int
) -> Any:
    """A page of root comments on one target, newest or hottest first."""
    query = select(*COLUMNS).where(
        Comment.target_type == target_type,
        Comment.target_id == target_id,
        Comment.root_id.is_(None),
    )
    if sort == "hot":
        if position is not None:
            hot, last = _int(position, "h"), _int(position, "id")
            query = query.where(
                or_(
                    Comment.hot_score < hot,
                    and_(Comment.hot_score == hot, Comment.id < last),
                )
            )
        query = query.order_by(Comment.hot_score.desc(), Comment.id.desc())
    else:
        if position is not None:
            query = query.where(Comment.id < _int(position, "id"))
        query = query.order_by(Comment.id.desc())
    return query.limit(limit)


def replies_statement(*, root_id: int, after: int | None, limit: int) -> Any:
    """A page of a thread's replies, oldest first (a conversation reads downwards)."""
    query = select(*COLUMNS).where(Comment.root_id == root_id)
    if after is not None:
        query = query.where(Comment.id > after)
    return query.order_by(Comment.id).limit(limit)


async def authors(reader: Reader, ids: set[int]) -> dict[int, AuthorOut]:
    """Several people as comment authors, in one query."""
    if not ids:
        return {}
    return {
        row.id: AuthorOut(id=row.id, nickname=row.nickname, avatar_url=row.avatar_url)
        for row in await reader.execute(_AUTHORS, {"ids": sorted(ids)})
    }


async def present(reader: Reader, rows: list[Any], *, viewer_id: int | None) -> list[CommentOut]:
    """Rows as the viewer sees them: authors, answered authors and the viewer's likes, in at
    most three queries whatever the number of rows."""
    if not rows:
        return []
    parents = {row.parent_id for row in rows if row.parent_id is not None}
    parent_authors: dict[int, int] = {}
    if parents:
        result = await reader.execute(_PARENT_AUTHORS, {"ids": sorted(parents)})
        parent_authors = {row.id: row.author_id for row in result}
    people = {row.author_id for row in rows} | set(parent_authors.values())
    found = await authors(reader, people)
    liked: set[int] = set()
    if viewer_id is not None:
        result = await reader.execute(
            _LIKED, {"user_id": viewer_id, "ids": [row.id for row in rows]}
        )
        liked = {row[0] for row in result}
    return [
        out(
            row,
            author=found.get(row.author_id),
            reply_to=found.get(parent_authors.get(row.parent_id or 0, 0)),
            liked=row.id in liked,
            viewer_id=viewer_id,
        )
        for row in rows
    ]


def out(
    row: Any,
    *,
    author: AuthorOut | None,
    reply_to: AuthorOut | None = None,
    liked: bool = False,
    viewer_id: int | None = None,
) -> CommentOut:
    """One comment; the body only while visible (its author still sees a pending one)."""
    shown = row.status == "visible" or (row.status == "pending" and row.author_id == viewer_id)
    return CommentOut.model_construct(
        id=row.id,
        target_type=row.target_type,
        target_id=row.target_id,
        author=author,
        parent_id=row.parent_id,
        root_id=row.root_id,
        reply_to=reply_to,
        body=row.body if shown else None,
        status=row.status,
        edited=row.edited_at is not None,
        edited_at=row.edited_at,
        like_count=row.like_count,
        reply_count=row.reply_count,
        liked=liked,
        created_at=row.created_at,
    )


async def list_roots(
    reader: Reader,
    *,
    target_type: str,
    target_id: int,
    sort: str,
    limit: int,
    cursor: str | None,
    viewer_id: int | None,
) -> Page[CommentOut]:
    """A page of root comments (with their reply counts); tombstones keep their place."""
    statement = roots_statement(
        target_type=target_type,
        target_id=target_id,
        sort=sort,
        position=decode_cursor(cursor),
        limit=limit + 1,
    )
    rows = list((await reader.execute(statement)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    items = await present(reader, rows, viewer_id=viewer_id)
    next_cursor = None
    if more and rows:
        last = rows[-1]
        position = {"h": last.hot_score, "id": last.id} if sort == "hot" else {"id": last.id}
        next_cursor = encode_cursor(position)
    return Page[CommentOut](items=items, next_cursor=next_cursor)


async def one(reader: Reader, comment_id: int) -> Any:
    """One comment's row, or None."""
    return (await reader.execute(select(*COLUMNS).where(Comment.id == comment_id))).one_or_none()


async def replies(
    reader: Reader, *, root_id: int, limit: int, cursor: str | None
) -> tuple[list[Any], str | None]:
    """A page of a thread's replies (rows) and the next cursor."""
    position = decode_cursor(cursor)
    after = None if position is None else _int(position, "id")
    rows = list(
        (
            await reader.execute(replies_statement(root_id=root_id, after=after, limit=limit + 1))
        ).all()
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor({"id": rows[-1].id}) if more and rows else None


async def list_comments(
    reader: Reader,
    *,
    viewer: Viewer,
    target_type: str,
    target_id: int,
    sort: str,
    limit: int,
    cursor: str | None,
    now: datetime,
) -> Page[CommentOut]:
    """The root comments of a target the viewer can see (404 otherwise)."""
    target = await target_of(
        reader, viewer=viewer, target_type=target_type, target_id=target_id, now=now
    )
    return await list_roots(
        reader,
        target_type=target.type,
        target_id=target.id,
        sort=sort,
        limit=limit,
        cursor=cursor,
        viewer_id=viewer.user_id,
    )


async def _readable(reader: Reader, *, viewer: Viewer, comment_id: int, now: datetime) -> Any:
    row = await one(reader, comment_id)
    if row is None:
        raise CommentNotFound()
    try:
        await target_of(
            reader, viewer=viewer, target_type=row.target_type, target_id=row.target_id, now=now
        )
    except TargetNotFound as exc:
        raise CommentNotFound() from exc
    return row


async def get_comment(
    reader: Reader, *, viewer: Viewer, comment_id: int, now: datetime
) -> CommentOut:
    """One comment on a target the viewer can see."""
    row = await _readable(reader, viewer=viewer, comment_id=comment_id, now=now)
    return (await present(reader, [row], viewer_id=viewer.user_id))[0]


async def get_thread(
    reader: Reader,
    *,
    viewer: Viewer,
    comment_id: int,
    limit: int,
    cursor: str | None,
    now: datetime,
) -> ThreadOut:
    """The thread a comment belongs to: its root and a page of replies, oldest first."""
    row = await _readable(reader, viewer=viewer, comment_id=comment_id, now=now)
    root = row if row.root_id is None else await one(reader, row.root_id)
    rows, next_cursor = await replies(reader, root_id=root.id, limit=limit, cursor=cursor)
    shown = await present(reader, [root, *rows], viewer_id=viewer.user_id)
    return ThreadOut(root=shown[0], replies=shown[1:], next_cursor=next_cursor)


def held_statement(*, status: str, after: int | None, limit: int) -> Any:
    """The moderators' queue: comments in one status, oldest first (ix_comments_status_id)."""
    query = select(*COLUMNS).where(Comment.status == status)
    if after is not None:
        query = query.where(Comment.id > after)
    return query.order_by(Comment.id).limit(limit)


async def held_comments(
    reader: Reader, *, moderator: Viewer, status: str, limit: int, cursor: str | None
) -> Page[CommentOut]:
    """Comments screening held (`pending`) or moderators hid (`hidden`), oldest first, with
    their text (moderators read it to decide)."""
    position = decode_cursor(cursor)
    after = None if position is None else _int(position, "id")
    rows = list(
        (await reader.execute(held_statement(status=status, after=after, limit=limit + 1))).all()
    )
    more = len(rows) > limit
    rows = rows[:limit]
    items = [
        item.model_copy(update={"body": row.body})
        for item, row in zip(
            await present(reader, rows, viewer_id=moderator.user_id), rows, strict=True
        )
    ]
    return Page[CommentOut](
        items=items, next_cursor=encode_cursor({"id": rows[-1].id}) if more and rows else None
    )
