"""Cursor pagination: `?limit=&cursor=` in, `{"items": [...], "next_cursor": ...}` out."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson
from pydantic import BaseModel, Field

from server.http.errors import BadRequest

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


class InvalidCursor(BadRequest):
    code, message = "pagination.invalid_cursor", "The cursor is not one this server issued."


class PageQuery(BaseModel):
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Items per page.")
    cursor: str | None = Field(None, max_length=512, description="`next_cursor` of the last page.")


class Page[T](BaseModel):
    items: list[T]
    next_cursor: str | None


def encode_cursor(position: dict[str, Any]) -> str:
    """An opaque cursor for the position after the last item of a page."""
    return base64.urlsafe_b64encode(orjson.dumps(position)).rstrip(b"=").decode()


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = orjson.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise InvalidCursor() from exc
    if not isinstance(position, dict):
        raise InvalidCursor()
    return position


def id_before(cursor: str | None) -> int | None:
    """The row id a newest-first page continues below (`{"id": ...}`, as `page_of` writes it for
    such lists); None for the first page, InvalidCursor for anything else."""
    position = decode_cursor(cursor)
    if position is None:
        return None
    before = position.get("id")
    if type(before) is not int or not 1 <= before < 2**63:
        raise InvalidCursor()
    return before


def page_of[T](items: list[T], limit: int, position_of: Any) -> Page[T]:
    """Build a page from up to `limit + 1` fetched rows: the extra row only says there is more."""
    more = len(items) > limit
    items = items[:limit]
    next_cursor = encode_cursor(position_of(items[-1])) if more and items else None
    return Page[T](items=items, next_cursor=next_cursor)
