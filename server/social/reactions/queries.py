"""Reading likes and collections: each list in a constant number of queries (the page, then
the titles of its items), walking an index in its order."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, or_, select

from models.content.items import Content
from models.social.reactions import ContentLike, Favorite, FavoriteCollection
from server.db import Reader
from server.http.pagination import InvalidCursor, Page, decode_cursor, encode_cursor, page_of
from server.social.reactions.schemas import CollectionOut, FavoriteItem, LikedItem, MyReactions
from server.social.reactions.service import CollectionNotFound, collection_out

_COLLECTION = (
    FavoriteCollection.id,
    FavoriteCollection.user_id,
    FavoriteCollection.name,
    FavoriteCollection.is_public,
    FavoriteCollection.item_count,
    FavoriteCollection.created_at,
    FavoriteCollection.updated_at,
)
_TITLES = select(Content.id, Content.published_title, Content.status).where(
    Content.id.in_(bindparam("ids", expanding=True))
)


async def _titles(reader: Reader, ids: list[int]) -> dict[int, str | None]:
    """The published titles of some items (None for those no longer published)."""
    if not ids:
        return {}
    rows = await reader.execute(_TITLES, {"ids": ids})
    return {row.id: row.published_title if row.status == "published" else None for row in rows}


def _id_after(cursor: str | None) -> int | None:
    position = decode_cursor(cursor)
    if position is None:
        return None
    value = position.get("id")
    if type(value) is not int or not 1 <= value < 2**63:
        raise InvalidCursor()
    return value


async def my_likes(
    reader: Reader, *, user_id: int, limit: int, cursor: str | None
) -> Page[LikedItem]:
    """What the person liked, newest first (ix_content_likes_user_id_created_at, backwards)."""
    query = select(ContentLike.content_id, ContentLike.created_at).where(
        ContentLike.user_id == user_id
    )
    position = decode_cursor(cursor)
    if position is not None:
        try:
            at = datetime.fromisoformat(str(position["at"]))
            last = int(position["id"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidCursor() from exc
        if at.tzinfo is None or not 0 <= last < 2**63:
            raise InvalidCursor()
        query = query.where(
            or_(
                ContentLike.created_at < at,
                and_(ContentLike.created_at == at, ContentLike.content_id < last),
            )
        )
    query = query.order_by(ContentLike.created_at.desc(), ContentLike.content_id.desc())
    rows = list((await reader.execute(query.limit(limit + 1))).all())
    more = len(rows) > limit
    rows = rows[:limit]
    titles = await _titles(reader, [row.content_id for row in rows])
    items = [
        LikedItem(
            content_id=row.content_id, title=titles.get(row.content_id), liked_at=row.created_at
        )
        for row in rows
    ]
    next_cursor = None
    if more and rows:
        next_cursor = encode_cursor(
            {"at": rows[-1].created_at.isoformat(), "id": rows[-1].content_id}
        )
    return Page[LikedItem](items=items, next_cursor=next_cursor)


async def collections_of(
    reader: Reader, *, owner_id: int, public_only: bool, limit: int, cursor: str | None
) -> Page[CollectionOut]:
    """A person's collections, newest first; others see the public ones only."""
    query = select(*_COLLECTION).where(FavoriteCollection.user_id == owner_id)
    if public_only:
        query = query.where(FavoriteCollection.is_public.is_(True))
    after = _id_after(cursor)
    if after is not None:
        query = query.where(FavoriteCollection.id < after)
    query = query.order_by(FavoriteCollection.id.desc()).limit(limit + 1)
    rows = (await reader.execute(query)).all()
    return page_of([collection_out(row) for row in rows], limit, lambda item: {"id": item.id})


async def visible_collection(
    reader: Reader, *, viewer_id: int | None, collection_id: int
) -> CollectionOut:
    """A public collection, or one's own; 404 for someone else's private one."""
    row = (
        await reader.execute(select(*_COLLECTION).where(FavoriteCollection.id == collection_id))
    ).one_or_none()
    if row is None or (not row.is_public and row.user_id != viewer_id):
        raise CollectionNotFound()
    return collection_out(row)


async def collection_items(
    reader: Reader, *, viewer_id: int | None, collection_id: int, limit: int, cursor: str | None
) -> Page[FavoriteItem]:
    """The items of a collection one may read, newest saved first."""
    await visible_collection(reader, viewer_id=viewer_id, collection_id=collection_id)
    query: Any = select(Favorite.id, Favorite.content_id, Favorite.created_at).where(
        Favorite.collection_id == collection_id
    )
    after = _id_after(cursor)
    if after is not None:
        query = query.where(Favorite.id < after)
    rows = list((await reader.execute(query.order_by(Favorite.id.desc()).limit(limit + 1))).all())
    titles = await _titles(reader, [row.content_id for row in rows[:limit]])
    page = page_of(rows, limit, lambda row: {"id": row.id})
    return Page[FavoriteItem](
        items=[
            FavoriteItem(
                content_id=row.content_id, title=titles.get(row.content_id), added_at=row.created_at
            )
            for row in page.items
        ],
        next_cursor=page.next_cursor,
    )


async def my_reactions(reader: Reader, *, user_id: int, content_id: int) -> MyReactions:
    """Whether the person likes an item and which of their collections hold it (two index
    reads)."""
    liked = await reader.scalar(
        select(ContentLike.content_id).where(
            ContentLike.content_id == content_id, ContentLike.user_id == user_id
        )
    )
    collections = await reader.execute(
        select(Favorite.collection_id)
        .where(Favorite.user_id == user_id, Favorite.content_id == content_id)
        .order_by(Favorite.collection_id)
    )
    return MyReactions(
        content_id=content_id,
        liked=liked is not None,
        collection_ids=[row[0] for row in collections],
    )
