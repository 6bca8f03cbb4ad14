"""Keeping the chunks of published items current: rebuilt from the published version, removed
when an item is no longer published, embedded when an embedding model is enabled.

Publishing tells the tutor through the content wing's indexing port
(`server.content.items.indexing.follow`, wired by the composition roots): the wing below never
names the tutor. The follower writes a `tutor.index_content` job into the caller's transaction,
so a rollback drops it with the change; `index_due` heals any job that was lost anyway.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.content.items import Content, ContentVersion
from models.tutor.retrieval import ContentChunk
from server.db import Database, outbox_of
from server.tutor.retrieval.chunking import Chunk, chunk_item
from server.tutor.retrieval.vectors import Embedder, to_bytes

INDEX_TASK = "tutor.index_content"
EMBED_BATCH = 64


async def published_text_changed(session: AsyncSession, *, content_id: int) -> None:
    """Queue the rebuild of an item's chunks, in the caller's transaction (through its unit of
    work's outbox: relayed at commit). Each change gets its own job id; running the rebuild
    twice is harmless."""
    outbox_of(session).enqueue(
        INDEX_TASK,
        content_id=content_id,
        job_id=f"{INDEX_TASK}:{content_id}:{secrets.token_hex(6)}",
    )


async def rebuild_chunks(session: AsyncSession, *, content_id: int, now: datetime) -> int:
    """Make the item's chunks those of its published version (none unless it is published);
    unchanged passages keep their rows and embeddings. How many chunks it now has."""
    row = (
        await session.execute(
            select(Content.status, Content.published_version)
            .where(Content.id == content_id)
            .with_for_update()  # serialised with publishing, which holds the same lock
        )
    ).one_or_none()
    if row is None or row.status != "published" or row.published_version is None:
        await session.execute(delete(ContentChunk).where(ContentChunk.content_id == content_id))
        return 0
    body = await session.scalar(
        select(ContentVersion.body).where(
            ContentVersion.content_id == content_id,
            ContentVersion.number == row.published_version,
        )
    )
    chunks = chunk_item(body=body or "")
    await _replace(session, content_id=content_id, chunks=chunks, now=now)
    return len(chunks)


async def _replace(
    session: AsyncSession, *, content_id: int, chunks: list[Chunk], now: datetime
) -> None:
    old = (
        await session.execute(
            select(
                ContentChunk.id,
                ContentChunk.ordinal,
                ContentChunk.anchor,
                ContentChunk.source_hash,
                ContentChunk.embedding,
                ContentChunk.embedding_model,
            ).where(ContentChunk.content_id == content_id)
        )
    ).all()
    by_place = {(r.ordinal, r.anchor, r.source_hash): r.id for r in old}
    vectors = {r.source_hash: (r.embedding, r.embedding_model) for r in old if r.embedding}
    kept = [
        by_place[key] for c in chunks if (key := (c.ordinal, c.anchor, c.source_hash)) in by_place
    ]
    fresh = [c for c in chunks if (c.ordinal, c.anchor, c.source_hash) not in by_place]
    await session.execute(
        delete(ContentChunk).where(
            ContentChunk.content_id == content_id, ContentChunk.id.not_in(kept)
        )
    )
    # `created_at` says when a row was last confirmed against the published version.
    if kept:
        await session.execute(
            update(ContentChunk).where(ContentChunk.id.in_(kept)).values(created_at=now)
        )
    if fresh:
        await session.execute(
            insert(ContentChunk),
            [
                {
                    "content_id": content_id,
                    "ordinal": c.ordinal,
                    "access": c.access,
                    "anchor": c.anchor,
                    "body": c.body,
                    "tokens": c.tokens,
                    "embedding": vectors.get(c.source_hash, (None, None))[0],
                    "embedding_model": vectors.get(c.source_hash, (None, None))[1],
                    "source_hash": c.source_hash,
                    "created_at": now,
                }
                for c in fresh
            ],
        )


async def embed_pending(db: Database, *, content_id: int, model: str, embed: Embedder) -> int:
    """Embed the item's chunks that have no vector of `model`, a batch per transaction (the
    embedder is called outside any transaction); how many were embedded."""
    async with db.read() as session:
        pending = (
            await session.execute(
                select(ContentChunk.id, ContentChunk.source_hash, ContentChunk.body)
                .where(
                    ContentChunk.content_id == content_id,
                    or_(
                        ContentChunk.embedding.is_(None),
                        ContentChunk.embedding_model.is_(None),
                        ContentChunk.embedding_model != model,
                    ),
                )
                .order_by(ContentChunk.ordinal)
            )
        ).all()
    table: Any = ContentChunk.__table__
    # A row replaced meanwhile (another version published) has another id or hash: skipped.
    statement = (
        update(table)
        .where(table.c.id == bindparam("chunk_id"), table.c.source_hash == bindparam("hash"))
        .values(embedding=bindparam("vector"), embedding_model=model)
    )
    for start in range(0, len(pending), EMBED_BATCH):
        batch = pending[start : start + EMBED_BATCH]
        vectors = await embed([row.body for row in batch])
        async with db.unit_of_work() as uow:
            await uow.session.execute(
                statement,
                [
                    {"chunk_id": row.id, "hash": row.source_hash, "vector": to_bytes(vector)}
                    for row, vector in zip(batch, vectors, strict=True)
                ],
            )
    return len(pending)


async def due_for_indexing(
    session: AsyncSession, *, model: str | None = None, limit: int = 50
) -> list[int]:
    """Items whose chunks are missing or older than their last change, items no longer
    published that still have chunks, and with an embedding `model`, items with chunks not yet
    embedded by it (the safety net behind the jobs publishing queues)."""
    indexed = (
        select(
            ContentChunk.content_id.label("content_id"),
            func.max(ContentChunk.created_at).label("indexed_at"),
        )
        .group_by(ContentChunk.content_id)
        .subquery()
    )
    stale = await session.scalars(
        select(Content.id)
        .outerjoin(indexed, indexed.c.content_id == Content.id)
        .where(
            Content.status == "published",
            # An empty body has no chunks: without this it would be due forever.
            Content.published_html != "",
            or_(indexed.c.indexed_at.is_(None), indexed.c.indexed_at < Content.updated_at),
        )
        .order_by(Content.updated_at)
        .limit(limit)
    )
    gone = await session.scalars(
        select(ContentChunk.content_id)
        .join(Content, Content.id == ContentChunk.content_id)
        .where(Content.status != "published")
        .distinct()
        .limit(limit)
    )
    unembedded: list[int] = []
    if model is not None:
        unembedded = list(
            await session.scalars(
                select(ContentChunk.content_id)
                .where(
                    or_(
                        ContentChunk.embedding_model.is_(None),
                        ContentChunk.embedding_model != model,
                    )
                )
                .distinct()
                .limit(limit)
            )
        )
    return list(dict.fromkeys([*gone, *stale, *unembedded]))[:limit]
