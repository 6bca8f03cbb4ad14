"""A published body cut into passages the tutor can quote, each marked `preview` or `paid`.

The cut is the one readers get: the paywall marker (`server.content.items.markdown.PAYWALL`,
the same pattern the item's preview and the search index cut at). What comes before the first
marker is `preview`; what comes after it is `paid`; a body WITHOUT a marker is all `paid`,
as the access policy's PREVIEW shows nothing of such a body. That costs a free item nothing
(everyone reads a published free item in full, so its `paid` passages reach everyone) and means
a chunk's mark never depends on the item's price, which an author may change without
publishing a new version.

Blocks are Markdown's top-level blocks (a paragraph, a heading, a list, a code fence):
consecutive short blocks merge up to `TARGET` characters, a heading always starts a new
passage, and a block longer than `LONGEST` is split at sentence ends (。！？ included).
A passage's anchor is `p-<index of its first block>` counted over the whole body: the content
API has no anchors of its own.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Literal

from markdown_it import MarkdownIt

from server.content.items.markdown import PAYWALL
from server.content.search import tokenizer
from server.content.search.service import plain_text

Access = Literal["preview", "paid"]

TARGET = 600  # characters a merged passage grows to
LONGEST = 900  # a block longer than this is cut at sentence ends

_md = MarkdownIt("js-default").enable("table").enable("strikethrough")
_SENTENCE = re.compile(r".+?(?:[。！？]+[”’」』）)]*|[.!?]+[\"'”’)]*(?=\s)|$)\s*", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Chunk:
    """One passage: its position, mark, anchor, Markdown text and encoded search tokens."""

    ordinal: int
    access: Access
    anchor: str
    body: str
    tokens: str
    source_hash: str


def source_hash(*, body: str, access: str) -> str:
    """What identifies a passage's text and mark (an unchanged one keeps its embedding)."""
    return hashlib.sha256(f"{access}\n{body}".encode()).hexdigest()


def split_at_paywall(body: str) -> tuple[str, str]:
    """(the part before the first paywall marker, the rest); ("", body) without a marker."""
    match = PAYWALL.search(body)
    if match is None:
        return "", body
    # Later markers mean nothing to readers (rendering drops them): drop them here too.
    return body[: match.start()], PAYWALL.sub("", body[match.end() :])


def chunk_item(*, body: str) -> list[Chunk]:
    """The passages of a published Markdown body, in order."""
    preview, paid = split_at_paywall(body)
    first_blocks = _blocks(preview)
    passages = [
        *_passages(first_blocks, access="preview", first=0),
        *_passages(_blocks(paid), access="paid", first=len(first_blocks)),
    ]
    return [
        Chunk(
            ordinal=ordinal,
            access=access,
            anchor=anchor,
            body=text,
            tokens=tokenizer.join(tokenizer.document_tokens(plain_text(text))),
            source_hash=source_hash(body=text, access=access),
        )
        for ordinal, (access, anchor, text) in enumerate(passages)
    ]


def preview_hashes(*, body: str) -> set[str]:
    """Source hashes of the preview passages of `body` (what a preview reader may be quoted)."""
    preview, _ = split_at_paywall(body)
    return {
        source_hash(body=text, access=access)
        for access, _, text in _passages(_blocks(preview), access="preview", first=0)
    }


def _blocks(markdown: str) -> list[tuple[bool, str]]:
    """(is a heading, source text) of each top-level block."""
    lines = markdown.splitlines()
    blocks: list[tuple[bool, str]] = []
    for token in _md.parse(markdown):
        if token.level != 0 or token.map is None or token.nesting == -1:
            continue
        start, end = token.map
        text = "\n".join(lines[start:end]).strip()
        if text:
            blocks.append((token.type == "heading_open", text))
    return blocks


def _passages(
    blocks: list[tuple[bool, str]], *, access: Access, first: int
) -> list[tuple[Access, str, str]]:
    """(access, anchor, text) of merged short blocks and split long ones."""
    out: list[tuple[Access, str, str]] = []
    current: list[str] = []
    anchor = ""
    for index, (heading, text) in enumerate(blocks, start=first):
        size = sum(len(part) + 2 for part in current)
        if current and (heading or size + len(text) > TARGET):
            out.append((access, anchor, "\n\n".join(current)))
            current = []
        if len(text) > LONGEST:
            out.extend((access, f"p-{index}", piece) for piece in _sentences(text))
            continue
        if not current:
            anchor = f"p-{index}"
        current.append(text)
    if current:
        out.append((access, anchor, "\n\n".join(current)))
    return out


def _sentences(text: str) -> list[str]:
    """A long block in pieces of whole sentences up to `TARGET` (a longer sentence is cut)."""
    pieces: list[str] = []
    current = ""
    for match in _SENTENCE.finditer(text):
        sentence = match.group(0)
        while len(sentence) > LONGEST:
            pieces.extend([current] if current.strip() else [])
            pieces.append(sentence[:TARGET])
            current, sentence = "", sentence[TARGET:]
        if current and len(current) + len(sentence) > TARGET:
            pieces.append(current)
            current = ""
        current += sentence
    if current.strip():
        pieces.append(current)
    return [piece.strip() for piece in pieces if piece.strip()]
