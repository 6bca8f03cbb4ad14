"""Likes on content and favorites in named collections.

Both need an item the viewer can see (PREVIEW or FULL under the access policy; 404 otherwise)
that is published. Counters: `likes` moves with each like and unlike; `favorites` counts people,
so it moves when someone's first collection takes an item and when their last one lets it go.
Counter changes are written to the outbox in the transaction that causes them
(`server.content.counters.count_on_commit`), so a crash right after the commit loses none.
Private collections are 404 to everyone but their owner.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from models.content.items import Content
from models.social.reactions import ContentLike, Favorite, FavoriteCollection
from server.content.counters import count_on_commit
from server.content.items.access import Item, Level, Viewer, can_read
from server.content.items.service import ContentNotFound
from server.db import Reader, UnitOfWork
from server.http.errors import Conflict, NotFound
from server.notify.notifications import service as notifications
from server.social.reactions.schemas import CollectionOut, FavoriteState, LikeOut


class CollectionNotFound(NotFound):
    code, message = "favorites.collection_not_found", "There is no such collection."


class NameTaken(Conflict):
    code, message = "favorites.name_taken", "You already have a collection with this name."


async def seeable(reader: Reader, *, viewer: Viewer, content_id: int, now: datetime) -> Any:
    """A published item the viewer can see, or 404."""
    row = (
        await reader.execute(
            select(
                Content.id,
                Content.author_id,
                Content.status,
                Content.access,
                Content.parent_id,
                Content.published_title,
            ).where(Content.id == content_id)
        )
    ).one_or_none()
    if row is None or row.status != "published":
        raise ContentNotFound()
    item = Item(row.id, row.author_id, row.status, row.access, row.parent_id)
    if await can_read(reader, viewer=viewer, item=item, now=now) is Level.NONE:
        raise ContentNotFound()
    return row


async def like(uow: UnitOfWork, *, viewer: Viewer, content_id: int, now: datetime) -> LikeOut:
    """Like an item (again is a no-op); a new like tells its author, folded per item."""
    assert viewer.user_id is not None
    row = await seeable(uow.session, viewer=viewer, content_id=content_id, now=now)
    try:
        async with uow.session.begin_nested():
            await uow.session.execute(
                insert(ContentLike).values(
                    content_id=row.id, user_id=viewer.user_id, created_at=now
                )
            )
    except IntegrityError:
        return LikeOut(content_id=row.id, liked=True)
    count_on_commit(uow, "likes", {row.id: 1})
    if row.author_id != viewer.user_id:
        await notifications.notify(
            uow,
            user_id=row.author_id,
            type="content.liked",
            title=f"Someone liked “{row.published_title}”",
            data={"content_id": row.id},
            actor_id=viewer.user_id,
            group_key=f"like:content:{row.id}",
        )
    return LikeOut(content_id=row.id, liked=True)


async def unlike(uow: UnitOfWork, *, viewer: Viewer, content_id: int, now: datetime) -> LikeOut:
    """Take a like back (a no-op when there is none)."""
    removed = await uow.session.execute(
        delete(ContentLike).where(
            ContentLike.content_id == content_id, ContentLike.user_id == viewer.user_id
        )
    )
    if not getattr(removed, "rowcount", 0):
        await seeable(uow.session, viewer=viewer, content_id=content_id, now=now)
        return LikeOut(content_id=content_id, liked=False)
    count_on_commit(uow, "likes", {content_id: -1})
    return LikeOut(content_id=content_id, liked=False)


def collection_out(row: Any) -> CollectionOut:
    return CollectionOut.model_construct(
        id=row.id,
        user_id=row.user_id,
        name=row.name,
        is_public=row.is_public,
        item_count=row.item_count,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def _flush_name(uow: UnitOfWork) -> None:
    try:
        async with uow.session.begin_nested():
            await uow.session.flush()
    except IntegrityError as exc:
        raise NameTaken() from exc


async def create_collection(
    uow: UnitOfWork, *, user_id: int, name: str, is_public: bool, now: datetime
) -> CollectionOut:
    """A new named collection (names are unique per person: 409 otherwise)."""
    collection = FavoriteCollection(
        user_id=user_id,
        name=name,
        is_public=is_public,
        item_count=0,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(collection)
    await _flush_name(uow)
    return collection_out(collection)


async def own_collection(
    uow: UnitOfWork, *, user_id: int, collection_id: int
) -> FavoriteCollection:
    """One of the person's collections, locked; anyone else's is 404."""
    collection = (
        await uow.session.scalars(
            select(FavoriteCollection)
            .where(FavoriteCollection.id == collection_id)
            .with_for_update()
        )
    ).one_or_none()
    if collection is None or collection.user_id != user_id:
        raise CollectionNotFound()
    return collection


async def update_collection(
    uow: UnitOfWork,
    *,
    user_id: int,
    collection_id: int,
    name: str | None,
    is_public: bool | None,
    now: datetime,
) -> CollectionOut:
    """Rename a collection or make it public or private."""
    collection = await own_collection(uow, user_id=user_id, collection_id=collection_id)
    if name is not None:
        collection.name = name
    if is_public is not None:
        collection.is_public = is_public
    collection.updated_at = now
    await _flush_name(uow)
    return collection_out(collection)


async def _saved_elsewhere(
    reader: Reader, *, user_id: int, content_ids: list[int], collection_id: int
) -> set[int]:
    """Which of these items the person keeps in another collection (one query)."""
    if not content_ids:
        return set()
    rows = await reader.execute(
        select(Favorite.content_id).where(
            Favorite.user_id == user_id,
            Favorite.content_id.in_(content_ids),
            Favorite.collection_id != collection_id,
        )
    )
    return {row[0] for row in rows}


async def delete_collection(uow: UnitOfWork, *, user_id: int, collection_id: int) -> None:
    """Delete a collection and its items; items kept in no other collection lose a favorite."""
    collection = await own_collection(uow, user_id=user_id, collection_id=collection_id)
    session = uow.session
    items = list(
        await session.scalars(
            select(Favorite.content_id).where(Favorite.collection_id == collection.id)
        )
    )
    kept = await _saved_elsewhere(
        session, user_id=user_id, content_ids=items, collection_id=collection.id
    )
    await session.execute(delete(Favorite).where(Favorite.collection_id == collection.id))
    await session.delete(collection)
    await session.flush()
    count_on_commit(uow, "favorites", {i: -1 for i in items if i not in kept})


async def add_favorite(
    uow: UnitOfWork, *, viewer: Viewer, collection_id: int, content_id: int, now: datetime
) -> FavoriteState:
    """Save an item in one's collection (again is a no-op)."""
    assert viewer.user_id is not None
    collection = await own_collection(uow, user_id=viewer.user_id, collection_id=collection_id)
    await seeable(uow.session, viewer=viewer, content_id=content_id, now=now)
    state = FavoriteState(collection_id=collection.id, content_id=content_id, saved=True)
    elsewhere = await _saved_elsewhere(
        uow.session, user_id=viewer.user_id, content_ids=[content_id], collection_id=collection.id
    )
    try:
        async with uow.session.begin_nested():
            await uow.session.execute(
                insert(Favorite).values(
                    collection_id=collection.id,
                    content_id=content_id,
                    user_id=viewer.user_id,
                    created_at=now,
                )
            )
    except IntegrityError:
        return state
    await _move_count(uow, collection, +1, now)
    if not elsewhere:
        count_on_commit(uow, "favorites", {content_id: 1})
    return state


async def _move_count(
    uow: UnitOfWork, collection: FavoriteCollection, delta: int, now: datetime
) -> None:
    await uow.session.execute(
        update(FavoriteCollection)
        .where(FavoriteCollection.id == collection.id)
        .values(item_count=FavoriteCollection.item_count + delta, updated_at=now)
        .execution_options(synchronize_session=False)
    )


async def remove_favorite(
    uow: UnitOfWork, *, user_id: int, collection_id: int, content_id: int, now: datetime
) -> FavoriteState:
    """Take an item out of one's collection (a no-op when it is not there)."""
    collection = await own_collection(uow, user_id=user_id, collection_id=collection_id)
    state = FavoriteState(collection_id=collection.id, content_id=content_id, saved=False)
    removed = await uow.session.execute(
        delete(Favorite).where(
            Favorite.collection_id == collection.id, Favorite.content_id == content_id
        )
    )
    if not getattr(removed, "rowcount", 0):
        return state
    await _move_count(uow, collection, -1, now)
    elsewhere = await _saved_elsewhere(
        uow.session, user_id=user_id, content_ids=[content_id], collection_id=collection.id
    )
    if not elsewhere:
        count_on_commit(uow, "favorites", {content_id: -1})
    return state
