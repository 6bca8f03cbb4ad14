"""Keeping the search index current: a published item's row is rebuilt, anything else removed.

The index is shared by every searcher, so it holds only what every searcher may read (the access
policy's PREVIEW): title, summary, tags and, of the body, the whole of a free item but only the
part before the paywall marker of a paid, plan or members item (nothing when it has no marker).
Whether an item matches must not reveal a word of its paid text.

The content lifecycle calls `index_content` after publishing a version (approval, scheduled
publishing, restore) and after a published item's settings or tags change, and `remove_content`
when it is archived; both run in the caller's transaction, under its lock on the content row.
"""

from __future__ import annotations

from datetime import datetime

from markdown_it import MarkdownIt
from markdown_it.token import Token
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.base import utcnow
from models.content.items import Content, ContentTag, ContentVersion, Tag
from models.content.search import SearchDocument
from server.content.items.markdown import PAYWALL
from server.content.search import tokenizer

# Tokens of the title count this many times, tags twice: relevance favours them.
TITLE_WEIGHT = 3
TAG_WEIGHT = 2

_md = MarkdownIt("js-default").enable("table").enable("strikethrough")
_TEXT_TOKENS = frozenset({"text", "code_inline"})
_BLOCK_TEXT = frozenset({"fence", "code_block"})


def plain_text(markdown: str) -> str:
    """The words of a Markdown body: text, code and image descriptions; no markup, no URLs
    (raw HTML is not markup here: the renderer shows it as text, so it is indexed as text)."""
    parts: list[str] = []

    def walk(tokens: list[Token]) -> None:
        for token in tokens:
            if token.type in _TEXT_TOKENS or token.type in _BLOCK_TEXT:
                parts.append(token.content)
            elif token.type == "image":
                parts.append(token.content)  # the alt text
            elif token.children:
                walk(token.children)

    walk(_md.parse(markdown))
    return "\n".join(parts)


def public_body(*, access: str, body: str) -> str:
    """The part of a published body every reader may see: all of a free item, the preview of any
    other (the text before the paywall marker; nothing without one)."""
    if access == "free":
        return body
    match = PAYWALL.search(body)
    return body[: match.start()] if match else ""


def document(*, title: str, summary: str, body: str, tags: list[str]) -> str:
    """The encoded token string of an item."""
    title_tokens = tokenizer.document_tokens(title)
    tag_tokens = [t for name in tags for t in tokenizer.document_tokens(name)]
    tokens = [
        *(title_tokens * TITLE_WEIGHT),
        *(tag_tokens * TAG_WEIGHT),
        *tokenizer.document_tokens(summary),
        *tokenizer.document_tokens(plain_text(body)),
    ]
    return tokenizer.join(tokens)


async def index_content(
    session: AsyncSession, *, content_id: int, now: datetime | None = None
) -> bool:
    """Rebuild the item's index row from its published version; False (and no row) unless it
    is published."""
    row = (
        await session.execute(
            select(
                Content.status,
                Content.published_version,
                Content.published_title,
                Content.published_summary,
                Content.access,
            ).where(Content.id == content_id)
        )
    ).one_or_none()
    if row is None or row.status != "published" or row.published_version is None:
        await remove_content(session, content_id=content_id)
        return False
    body = await session.scalar(
        select(ContentVersion.body).where(
            ContentVersion.content_id == content_id,
            ContentVersion.number == row.published_version,
        )
    )
    tags = list(
        await session.scalars(
            select(Tag.name)
            .join(ContentTag, ContentTag.tag_id == Tag.id)
            .where(ContentTag.content_id == content_id)
            .order_by(Tag.name)
        )
    )
    tokens = document(
        title=row.published_title or "",
        summary=row.published_summary or "",
        body=public_body(access=row.access, body=body or ""),
        tags=tags,
    )
    # Under the caller's lock on the content row, so no concurrent writer races the insert.
    await session.execute(delete(SearchDocument).where(SearchDocument.content_id == content_id))
    await session.execute(
        insert(SearchDocument).values(
            content_id=content_id, tokens=tokens, indexed_at=now or utcnow()
        )
    )
    return True


async def remove_content(session: AsyncSession, *, content_id: int) -> None:
    """Take the item out of search."""
    await session.execute(delete(SearchDocument).where(SearchDocument.content_id == content_id))


async def reindex(
    session: AsyncSession, *, after_id: int = 0, limit: int = 200, now: datetime | None = None
) -> int | None:
    """Rebuild the rows of the next `limit` published items after `after_id` (after a change of
    the tokenizer, or to fill a new index); the last id done, or None when none were left."""
    ids = list(
        await session.scalars(
            select(Content.id)
            .where(Content.status == "published", Content.id > after_id)
            .order_by(Content.id)
            .limit(limit)
        )
    )
    for content_id in ids:
        await index_content(session, content_id=content_id, now=now)
    return ids[-1] if ids else None
