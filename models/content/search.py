"""The search index: one row per published content item with its encoded tokens.

On MySQL/MariaDB `tokens` carries a FULLTEXT index. On SQLite the migration adds an FTS5 table
`search_fts` over the same column (external content, kept in step by triggers); FTS5 tables are
virtual and live outside these models, so `schema_filter` keeps them (and the FULLTEXT index,
which SQLite does not have) out of the comparison of models with the database.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Text
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column

from models.base import TABLE_OPTIONS, Base, BigId, UTCDateTime, utcnow

FULLTEXT_INDEX = "ix_search_documents_tokens"
FTS_TABLE = "search_fts"
# FTS5 keeps its index in these shadow tables (external content: no `_content` table).
FTS_TABLES = frozenset(
    {FTS_TABLE, *(f"{FTS_TABLE}_{s}" for s in ("data", "idx", "docsize", "config"))}
)


class SearchDocument(Base):
    """What search matches a published item by: title (weighted), summary, body and tags."""

    __tablename__ = "search_documents"
    __table_args__ = (Index(FULLTEXT_INDEX, "tokens", mysql_prefix="FULLTEXT"), TABLE_OPTIONS)

    content_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("contents.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    # Encoded tokens separated by spaces (server/content/search/tokenizer.py); a long body's tokens
    # outgrow TEXT's 64 KB on MySQL.
    tokens: Mapped[str] = mapped_column(
        Text().with_variant(mysql.MEDIUMTEXT(), "mysql"), nullable=False
    )
    indexed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


def schema_filter(dialect: str) -> Callable[[Any, str | None, str, bool, Any], bool]:
    """An alembic `include_object` hook: on SQLite, skip the FTS5 tables and FULLTEXT indexes."""

    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        if dialect != "sqlite":
            return True
        if type_ == "table" and name in FTS_TABLES:
            return False
        # FULLTEXT indexes exist on MySQL/MariaDB only (this one and any other table's).
        fulltext = obj is not None and obj.dialect_kwargs.get("mysql_prefix") == "FULLTEXT"
        return not (type_ == "index" and (name == FULLTEXT_INDEX or fulltext))

    return include
