"""search: the index holds only public text (the preview of paid, plan and members items)

Rebuilds the index rows of published items that are not free, which held their whole body, so
that no word past the paywall can be matched. The tokens come from the application's own
tokenizer (the same encoding the running code searches with). Downgrading keeps the rows as they
are: restoring paid text to the index is never wanted.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 02:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from server.content.search.service import document, public_body

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

contents = sa.table(
    "contents",
    sa.column("id", sa.BigInteger),
    sa.column("status", sa.String),
    sa.column("access", sa.String),
    sa.column("published_version", sa.Integer),
    sa.column("published_title", sa.String),
    sa.column("published_summary", sa.Text),
)
versions = sa.table(
    "content_versions",
    sa.column("content_id", sa.BigInteger),
    sa.column("number", sa.Integer),
    sa.column("body", sa.Text),
)
content_tags = sa.table(
    "content_tags", sa.column("content_id", sa.BigInteger), sa.column("tag_id", sa.BigInteger)
)
tags = sa.table("tags", sa.column("id", sa.BigInteger), sa.column("name", sa.String))
documents = sa.table(
    "search_documents", sa.column("content_id", sa.BigInteger), sa.column("tokens", sa.Text)
)


def upgrade() -> None:
    conn = op.get_bind()
    items = conn.execute(
        sa.select(
            contents.c.id,
            contents.c.access,
            contents.c.published_title,
            contents.c.published_summary,
            versions.c.body,
        )
        .join(
            versions,
            sa.and_(
                versions.c.content_id == contents.c.id,
                versions.c.number == contents.c.published_version,
            ),
        )
        .join(documents, documents.c.content_id == contents.c.id)
        .where(contents.c.status == "published", contents.c.access != "free")
        .order_by(contents.c.id)
    ).all()
    for item in items:
        names = conn.scalars(
            sa.select(tags.c.name)
            .join(content_tags, content_tags.c.tag_id == tags.c.id)
            .where(content_tags.c.content_id == item.id)
            .order_by(tags.c.name)
        ).all()
        tokens = document(
            title=item.published_title or "",
            summary=item.published_summary or "",
            body=public_body(access=item.access, body=item.body or ""),
            tags=list(names),
        )
        conn.execute(
            documents.update().where(documents.c.content_id == item.id).values(tokens=tokens)
        )


def downgrade() -> None:
    pass
