"""Retrieval: published content cut into chunks, each marked preview or paid, with its search
tokens (FULLTEXT on MySQL/MariaDB) and its embedding."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column

from models.base import TABLE_OPTIONS, Base, BigId, IdMixin, UTCDateTime, utcnow

CHUNK_ACCESS = ("preview", "paid")
CHUNK_FULLTEXT_INDEX = "ix_tutor_chunks_tokens"


class ContentChunk(IdMixin, Base):
    """A passage of a published item. `access` says whether it lies before the paywall marker
    (`preview`: anyone who may see the item) or after it (`paid`: only full readers)."""

    __tablename__ = "tutor_chunks"
    __table_args__ = (
        Index("ix_tutor_chunks_content_id_ordinal", "content_id", "ordinal", unique=True),
        Index(CHUNK_FULLTEXT_INDEX, "tokens", mysql_prefix="FULLTEXT"),
        TABLE_OPTIONS,
    )

    content_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("contents.id", ondelete="CASCADE"), nullable=False
    )
    ordinal: Mapped[int] = mapped_column(Integer, nullable=False)
    access: Mapped[str] = mapped_column(String(8), nullable=False)
    anchor: Mapped[str] = mapped_column(String(64), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    tokens: Mapped[str] = mapped_column(Text, nullable=False)
    # float32 little-endian, `dimensions` of them; NULL until the embedding job has run.
    embedding: Mapped[bytes | None] = mapped_column(
        LargeBinary().with_variant(mysql.MEDIUMBLOB(), "mysql"), nullable=True
    )
    embedding_model: Mapped[str | None] = mapped_column(String(64), nullable=True)
    source_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
