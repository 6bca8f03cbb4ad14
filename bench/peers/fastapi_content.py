"""The B2c/B3 peer: published content on FastAPI + SQLAlchemy ORM (async session, asyncmy).

    DATABASE_URL=mysql+asyncmy://u:p@127.0.0.1:3306/db \\
        python -m bench.peers.fastapi_content --port 8082

Written the way FastAPI's and SQLAlchemy's docs show: declarative models mapped to the same
tables (defined here, not imported) with ``author`` and ``tags`` relationships, a ``get_db``
dependency yielding an ``AsyncSession``, ``selectinload`` for the relationships (the docs'
answer to N+1 under asyncio), and Pydantic ``response_model``\\ s read ``from_attributes``.
Served by uvicorn with uvloop and httptools.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated

import uvicorn
from fastapi import Depends, FastAPI, HTTPException
from pydantic import BaseModel, ConfigDict, field_serializer
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, selectinload

DATABASE_URL = os.environ.get("DATABASE_URL", "mysql+asyncmy://localhost/sharestack_test_bench")
POOL_SIZE = int(os.environ.get("DATABASE_POOL_SIZE", "10"))
engine = create_async_engine(DATABASE_URL, pool_size=POOL_SIZE, max_overflow=POOL_SIZE)
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)


class Base(DeclarativeBase):
    pass


content_tags = Table(
    "content_tags",
    Base.metadata,
    Column("content_id", ForeignKey("contents.id"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id"), primary_key=True),
)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    nickname: Mapped[str] = mapped_column(String(32))
    avatar_url: Mapped[str | None] = mapped_column(String(500))


class Tag(Base):
    __tablename__ = "tags"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(32))


class Counter(Base):
    __tablename__ = "content_counters"
    content_id: Mapped[int] = mapped_column(ForeignKey("contents.id"), primary_key=True)
    views: Mapped[int] = mapped_column(BigInteger)
    likes: Mapped[int] = mapped_column(BigInteger)
    favorites: Mapped[int] = mapped_column(BigInteger)
    comments: Mapped[int] = mapped_column(BigInteger)
    shares: Mapped[int] = mapped_column(BigInteger)


COUNTERS = ("views", "likes", "favorites", "comments", "shares")


class Content(Base):
    __tablename__ = "contents"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    parent_id: Mapped[int | None] = mapped_column(BigInteger)
    position: Mapped[int] = mapped_column(Integer)
    category_id: Mapped[int | None] = mapped_column(BigInteger)
    access: Mapped[str] = mapped_column(String(16))
    price_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    cover_url: Mapped[str | None] = mapped_column(String(500))
    published_version: Mapped[int | None] = mapped_column(Integer)
    published_title: Mapped[str | None] = mapped_column(String(200))
    published_summary: Mapped[str | None] = mapped_column(String(500))
    published_html: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime | None] = mapped_column(DateTime)
    author: Mapped[User] = relationship()
    tags: Mapped[list[Tag]] = relationship(secondary=content_tags, order_by=Tag.name)
    counter: Mapped[Counter | None] = relationship()


class AuthorOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    nickname: str
    avatar_url: str | None


class ContentSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    kind: str
    status: str
    author: AuthorOut
    title: str
    summary: str
    access: str
    price_cents: int
    currency: str
    category_id: int | None
    tags: list[str]
    cover_url: str | None
    published_at: datetime | None
    counters: dict[str, int]

    @field_serializer("published_at")
    def _utc(self, value: datetime | None) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)

    @classmethod
    def of(cls, content: Content, **extra: object) -> dict[str, object]:
        return {
            "id": content.id,
            "kind": content.kind,
            "status": content.status,
            "author": content.author,
            "title": content.published_title or "",
            "summary": content.published_summary or "",
            "access": content.access,
            "price_cents": content.price_cents,
            "currency": content.currency,
            "category_id": content.category_id,
            "tags": [t.name for t in content.tags],
            "cover_url": content.cover_url,
            "published_at": content.published_at,
            "counters": {name: getattr(content.counter, name, 0) or 0 for name in COUNTERS},
            **extra,
        }


class ContentOut(ContentSummary):
    html: str
    preview: bool
    can_read: bool
    parent_id: int | None
    position: int
    chapters: list[object] | None


class Page(BaseModel):
    items: list[ContentSummary]
    next_cursor: str | None


app = FastAPI()


async def get_db() -> AsyncIterator[AsyncSession]:
    async with SessionLocal() as session:
        yield session


@app.get("/api/v1/contents/{content_id}", response_model=ContentOut)
async def read_content(content_id: int, db: Annotated[AsyncSession, Depends(get_db)]) -> ContentOut:
    content = await db.get(
        Content,
        content_id,
        options=[
            selectinload(Content.author),
            selectinload(Content.tags),
            selectinload(Content.counter),
        ],
    )
    if content is None or content.published_version is None:
        raise HTTPException(status_code=404, detail="Not found")
    return ContentOut.model_validate(
        ContentSummary.of(
            content,
            html=content.published_html or "",
            preview=False,
            can_read=True,
            parent_id=content.parent_id,
            position=content.position,
            chapters=None,
        )
    )


@app.get("/api/v1/contents", response_model=Page)
async def list_contents(db: Annotated[AsyncSession, Depends(get_db)], limit: int = 20) -> Page:
    rows = (
        await db.scalars(
            select(Content)
            .where(Content.status == "published")
            .order_by(Content.published_at.desc(), Content.id.desc())
            .limit(limit + 1)
            .options(
                selectinload(Content.author),
                selectinload(Content.tags),
                selectinload(Content.counter),
            )
        )
    ).all()
    items = [ContentSummary.model_validate(ContentSummary.of(c)) for c in rows[:limit]]
    return Page(items=items, next_cursor="more" if len(rows) > limit else None)


@app.get("/healthz", response_model=None)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        app, host=args.host, port=args.port, loop="uvloop", http="httptools", log_level="warning"
    )


if __name__ == "__main__":
    main()
