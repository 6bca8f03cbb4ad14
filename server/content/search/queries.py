"""Searching published content, in a constant number of queries a page.

The match is dialect-specific and kept in `_matching`: MATCH ... AGAINST in BOOLEAN MODE over
the FULLTEXT index on MySQL/MariaDB (relevance: its score), the FTS5 table on SQLite (relevance:
bm25). Every query token is required. Filters apply to the matched items' `contents` rows (read
by primary key), so they are always current.

Cursors are opaque. `newest` is keyed on (published_at, id); `hottest` on (hot score, id), the
score of the item's counters (0 without any), like the hot list. `relevance` has no key a
cursor could hold (a match score is not stored, and changes as the index grows), so its cursor
holds an offset, and it stops after `RELEVANCE_DEPTH` results: refine the query or sort by
newest to go further.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, literal_column, or_, select, table
from sqlalchemy.ext.asyncio import AsyncConnection

from models.content.counters import ContentCounter
from models.content.items import Content, ContentTag, Tag
from models.content.search import FTS_TABLE, SearchDocument
from server.content.items.access import Item, Level, Viewer, access_levels
from server.content.items.queries import authors_of, tags_of
from server.content.search import tokenizer
from server.content.search.schemas import SearchHit, SearchQuery
from server.db import Reader
from server.http.errors import ValidationFailed
from server.http.pagination import InvalidCursor, Page, decode_cursor, encode_cursor

RELEVANCE_DEPTH = 1000
HIGHLIGHT_CONTEXT = 30

_COLUMNS = (
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
_fts = table(FTS_TABLE, literal_column("rowid"))
_hot = func.coalesce(ContentCounter.hot_score, 0.0)


class EmptyQuery(ValidationFailed):
    code, message = "search.empty_query", "The query has no words to search for."


def dialect_of(reader: Reader) -> str:
    if isinstance(reader, AsyncConnection):
        return reader.dialect.name
    return reader.get_bind().dialect.name


def _matching(dialect: str, tokens: list[str]) -> tuple[Any, Any, Any]:
    """(FROM clause joined to contents, the match condition, the best-first order)."""
    if dialect == "sqlite":
        fts: Any = literal_column(FTS_TABLE)
        source = _fts.join(Content, Content.id == literal_column(f"{FTS_TABLE}.rowid"))
        return source, fts.match(" ".join(f'"{t}"' for t in tokens)), func.bm25(fts).asc()
    # SQLAlchemy renders MATCH (tokens) AGAINST (... IN BOOLEAN MODE); `+` makes each required.
    match = SearchDocument.tokens.match(" ".join(f"+{t}" for t in tokens))
    source = SearchDocument.__table__.join(Content, Content.id == SearchDocument.content_id)
    return source, match, match.desc()


def search_statement(
    query: SearchQuery, *, tokens: list[str], dialect: str, position: dict[str, Any] | None
) -> Any:
    """The page's items (one more than asked, to know whether there is a next page)."""
    source, match, best_first = _matching(dialect, tokens)
    statement: Any = (
        select(*_COLUMNS).select_from(source).where(match, Content.status == "published")
    )
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
    if query.tag is not None:
        tagged = (
            select(ContentTag.content_id)
            .join(Tag, Tag.id == ContentTag.tag_id)
            .where(Tag.name == " ".join(tokenizer.normalise(query.tag).split()))
        )
        statement = statement.where(Content.id.in_(tagged))
    limit = query.limit + 1
    if query.sort == "relevance":
        offset = position["offset"] if position else 0
        return statement.order_by(best_first, Content.id.desc()).limit(limit).offset(offset)
    if query.sort == "hottest":
        statement = statement.add_columns(_hot.label("hot_score")).outerjoin(
            ContentCounter, ContentCounter.content_id == Content.id
        )
        if position is not None:
            score, last_id = position["score"], position["id"]
            statement = statement.where(
                or_(_hot < score, and_(_hot == score, Content.id < last_id))
            )
        return statement.order_by(_hot.desc(), Content.id.desc()).limit(limit)
    if position is not None:
        at, last_id = position["at"], position["id"]
        statement = statement.where(
            or_(
                Content.published_at < at,
                and_(Content.published_at == at, Content.id < last_id),
            )
        )
    return statement.order_by(Content.published_at.desc(), Content.id.desc()).limit(limit)


def _position(query: SearchQuery) -> dict[str, Any] | None:
    """The decoded cursor, checked against the query's sort."""
    cursor = decode_cursor(query.cursor)
    if cursor is None:
        return None
    if cursor.get("sort") != query.sort:
        raise InvalidCursor()
    if query.sort == "relevance":
        offset = cursor.get("offset")
        if type(offset) is not int or not 0 < offset < RELEVANCE_DEPTH:
            raise InvalidCursor()
        return {"offset": offset}
    if query.sort == "hottest":
        score, last_id = cursor.get("score"), cursor.get("id")
        if not isinstance(score, int | float) or isinstance(score, bool):
            raise InvalidCursor()
        if type(last_id) is not int:
            raise InvalidCursor()
        return {"score": float(score), "id": last_id}
    try:
        at, last_id = datetime.fromisoformat(cursor["at"]), cursor["id"]
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidCursor() from exc
    if type(last_id) is not int or at.tzinfo is None:
        raise InvalidCursor()
    return {"at": at, "id": last_id}


def highlight(q: str, texts: tuple[str, ...]) -> str | None:
    """A plain-text excerpt of the first title or summary that contains a word of the query.

    Only public text: a match in a paid body shows nothing of it.
    """
    terms = [m.group(0) for m in tokenizer.RUNS.finditer(tokenizer.normalise(q))]
    for text in texts:
        shown = unicodedata.normalize("NFKC", text)
        folded = shown.lower()
        if len(folded) != len(shown):  # lower-casing changed lengths: offsets would drift
            continue
        for term in terms:
            at = folded.find(term)
            if at < 0:
                continue
            start = max(0, at - HIGHLIGHT_CONTEXT)
            end = min(len(shown), at + len(term) + HIGHLIGHT_CONTEXT)
            prefix = "…" if start else ""
            suffix = "…" if end < len(shown) else ""
            return f"{prefix}{shown[start:end]}{suffix}"
    return None


async def search(
    reader: Reader, *, viewer: Viewer, query: SearchQuery, now: datetime
) -> Page[SearchHit]:
    """A page of published items matching every word of the query, as the viewer may see them:
    the search, then tags and authors, then (signed in, paid items) entitlements."""
    tokens = tokenizer.query_tokens(query.q)
    if not tokens:
        raise EmptyQuery(fields={"q": "Type at least one letter, digit or CJK character."})
    position = _position(query)
    statement = search_statement(
        query, tokens=tokens, dialect=dialect_of(reader), position=position
    )
    rows = list((await reader.execute(statement)).all())
    shown = rows[: query.limit]
    ids = [row.id for row in shown]
    tags = await tags_of(reader, ids)
    authors = await authors_of(reader, {row.author_id for row in shown})
    levels = await access_levels(
        reader,
        viewer=viewer,
        items=[
            Item(
                id=r.id,
                author_id=r.author_id,
                status=r.status,
                access=r.access,
                parent_id=r.parent_id,
            )
            for r in shown
        ],
        now=now,
    )
    items = [
        SearchHit(
            id=row.id,
            kind=row.kind,
            title=row.published_title or "",
            summary=row.published_summary or "",
            author=authors[row.author_id],
            access=row.access,
            price_cents=row.price_cents,
            currency=row.currency,
            category_id=row.category_id,
            cover_url=row.cover_url,
            tags=tags[row.id],
            published_at=row.published_at,
            can_read=levels[row.id] is Level.FULL,
            highlight=highlight(query.q, (row.published_title or "", row.published_summary or "")),
        )
        for row in shown
    ]
    return Page[SearchHit](
        items=items, next_cursor=_next(query, position, shown, more=len(rows) > len(shown))
    )


def _next(
    query: SearchQuery, position: dict[str, Any] | None, rows: list[Any], *, more: bool
) -> str | None:
    if not more or not rows:
        return None
    if query.sort == "relevance":
        offset = (position["offset"] if position else 0) + len(rows)
        return (
            encode_cursor({"sort": "relevance", "offset": offset})
            if offset < RELEVANCE_DEPTH
            else None
        )
    last = rows[-1]
    if query.sort == "hottest":
        return encode_cursor({"sort": "hottest", "score": float(last.hot_score), "id": last.id})
    return encode_cursor({"sort": "newest", "at": last.published_at.isoformat(), "id": last.id})
