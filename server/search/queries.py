"""Searching published content, in a constant number of queries a page.

The match is dialect-specific and kept in `_matching`: MATCH ... AGAINST in BOOLEAN MODE over
the FULLTEXT index on MySQL/MariaDB (relevance: its score), the FTS5 table on SQLite (relevance:
bm25). Every query token is required. Filters apply to the matched items' `contents` rows (read
by primary key), so they are always current.

Cursors are opaque. `newest` (and `hottest`, which orders by publication time until there are
counters to rank by) are keyed on (published_at, id). `relevance` has no stable key (a score
changes as the index grows), so its cursor holds an offset, and it stops after
`RELEVANCE_DEPTH` results: refine the query or sort by newest to go further.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, literal_column, or_, select, table
from sqlalchemy.ext.asyncio import AsyncConnection

from models.content import Content, ContentTag, Tag
from models.search import FTS_TABLE, SearchDocument
from server.content.access import Item, Level, Viewer, access_levels
from server.content.queries import authors_of, tags_of
from server.db import Reader
from server.http.errors import ValidationFailed
from server.http.pagination import InvalidCursor, Page, decode_cursor, encode_cursor
from server.search import tokenizer
from server.search.schemas import SearchHit, SearchQuery

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
    statement = select(*_COLUMNS).select_from(source).where(match, Content.status == "published")
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
        items=items, next_cursor=_next(query, position, items, more=len(rows) > len(shown))
    )


def _next(
    query: SearchQuery, position: dict[str, Any] | None, items: list[SearchHit], *, more: bool
) -> str | None:
    if not more or not items:
        return None
    if query.sort == "relevance":
        offset = (position["offset"] if position else 0) + len(items)
        return (
            encode_cursor({"sort": "relevance", "offset": offset})
            if offset < RELEVANCE_DEPTH
            else None
        )
    last = items[-1]
    assert last.published_at is not None
    return encode_cursor({"sort": query.sort, "at": last.published_at.isoformat(), "id": last.id})
