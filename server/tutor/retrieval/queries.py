"""The reads behind retrieval, each one statement: items and their chapters, keyword hits among
chunks the caller allows, chunk bodies, and published bodies.

Keyword matching is dialect-specific and kept in `_keyword_score`: MATCH ... AGAINST in BOOLEAN
MODE over the FULLTEXT index of `tutor_chunks.tokens` on MySQL/MariaDB; on SQLite (the embedded
mode, no FULLTEXT index on this table) the number of query tokens a chunk holds. Tokens are the
search tokeniser's (`server.content.search.tokenizer.query_tokens`), as item search uses them;
unlike item search, no token is required (`+`): a question's words are rarely all in one
passage, so chunks rank by how much of the question they hold.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, NamedTuple

from sqlalchemy import and_, case, false, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.content.items import Content, ContentVersion
from models.tutor.retrieval import ContentChunk
from server.content.items.access import Item
from server.content.search.queries import dialect_of

# Query tokens used at most (a pasted essay is not a longer query).
MAX_QUERY_TOKENS = 32


class ItemRow(NamedTuple):
    id: int
    author_id: int
    status: str
    access: str
    parent_id: int | None
    title: str

    def item(self) -> Item:
        return Item(self.id, self.author_id, self.status, self.access, self.parent_id)


class Hit(NamedTuple):
    chunk_id: int
    content_id: int
    access: str
    score: float


class ChunkRow(NamedTuple):
    id: int
    content_id: int
    access: str
    anchor: str
    body: str
    source_hash: str


_ITEM_COLUMNS = (
    Content.id,
    Content.author_id,
    Content.status,
    Content.access,
    Content.parent_id,
    Content.published_title,
)


def _item_rows(rows: Any) -> list[ItemRow]:
    return [ItemRow(r[0], r[1], r[2], r[3], r[4], r[5] or "") for r in rows]


async def item_and_chapters(session: AsyncSession, *, content_id: int) -> list[ItemRow]:
    """The item and, when it is a course, its chapters (only courses have chapters)."""
    rows = await session.execute(
        select(*_ITEM_COLUMNS).where(or_(Content.id == content_id, Content.parent_id == content_id))
    )
    return _item_rows(rows)


async def items_by_id(session: AsyncSession, *, ids: Collection[int]) -> list[ItemRow]:
    if not ids:
        return []
    rows = await session.execute(select(*_ITEM_COLUMNS).where(Content.id.in_(list(ids))))
    return _item_rows(rows)


def allowed_chunks(allowed: Mapping[int, Collection[str]]) -> Any:
    """The condition for chunks of these items with these marks."""
    full = [cid for cid, marks in allowed.items() if "paid" in marks]
    preview = [cid for cid, marks in allowed.items() if "paid" not in marks and marks]
    clauses: list[Any] = []
    if full:
        clauses.append(ContentChunk.content_id.in_(full))
    if preview:
        clauses.append(and_(ContentChunk.content_id.in_(preview), ContentChunk.access == "preview"))
    return or_(*clauses) if clauses else false()


def _keyword_score(dialect: str, tokens: list[str]) -> tuple[Any, Any]:
    """(the score of a chunk, the condition that it matches at all)."""
    if dialect == "sqlite":
        padded = literal(" ").concat(ContentChunk.tokens).concat(" ")
        # Tokens are [0-9a-z] only: nothing in them is a LIKE wildcard.
        score: Any = sum(case((padded.like(f"% {t} %"), 1), else_=0) for t in tokens)
        return score, score > 0
    match = ContentChunk.tokens.match(" ".join(tokens))
    return match, match


async def keyword_hits(
    session: AsyncSession, *, tokens: list[str], where: Any, published_only: bool, limit: int
) -> list[Hit]:
    """The best-scoring chunks for `tokens` among those `where` allows, best first."""
    if not tokens:
        return []
    score, matches = _keyword_score(dialect_of(session), tokens[:MAX_QUERY_TOKENS])
    statement = select(
        ContentChunk.id, ContentChunk.content_id, ContentChunk.access, score.label("score")
    ).where(matches, where)
    if published_only:
        statement = statement.join(Content, Content.id == ContentChunk.content_id).where(
            Content.status == "published"
        )
    rows = await session.execute(statement.order_by(score.desc(), ContentChunk.id).limit(limit))
    return [Hit(r[0], r[1], r[2], float(r[3])) for r in rows]


def open_to_anyone(user_id: int) -> Any:
    """Chunks of a published item any viewer may read: before the paywall, of a free item, or
    of the viewer's own item (the policy decides in the end; this only sorts the pools)."""
    return or_(
        ContentChunk.access == "preview", Content.access == "free", Content.author_id == user_id
    )


async def chunks_by_id(session: AsyncSession, *, ids: Collection[int]) -> list[ChunkRow]:
    if not ids:
        return []
    rows = await session.execute(
        select(
            ContentChunk.id,
            ContentChunk.content_id,
            ContentChunk.access,
            ContentChunk.anchor,
            ContentChunk.body,
            ContentChunk.source_hash,
        ).where(ContentChunk.id.in_(list(ids)))
    )
    return [ChunkRow(*r) for r in rows]


async def published_bodies(session: AsyncSession, *, ids: Collection[int]) -> dict[int, str]:
    """The body of each item's published version."""
    if not ids:
        return {}
    rows = await session.execute(
        select(Content.id, ContentVersion.body)
        .join(
            ContentVersion,
            and_(
                ContentVersion.content_id == Content.id,
                ContentVersion.number == Content.published_version,
            ),
        )
        .where(Content.id.in_(list(ids)))
    )
    return {content_id: body for content_id, body in rows}
